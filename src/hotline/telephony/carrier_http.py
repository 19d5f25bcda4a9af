"""The HTTP client under the carrier's REST client (`twilio.rest.Client`), on httpx.

The carrier's servers close a keep-alive connection that stays idle past their own limit
(the emulator's: uvicorn's 5 s). A client that reuses a connection at the moment the
server closes it sends its request into a closing socket and gets a reset: the request
fails although the carrier was there. Twilio's own client (on requests) keeps idle
connections for ever, so a busy line met that race (a connect's update refused, its caller
requeued and its agent offered the call for nothing). Here a connection idle for IDLE_FOR
seconds is closed by us before the carrier's limit, so every request goes out on a
connection the carrier still keeps (or a new one): one rule, as the nodes' relay has it.

A carrier that cannot be reached, or does not answer within the timeout, or an address
that is not one, is a `TwilioException` (the control adapter's one error for "the carrier
did not do it"). The environment is read as Twilio's client read it where a deployment
relies on it: `REQUESTS_CA_BUNDLE` or `CURL_CA_BUNDLE` (a TLS-inspecting proxy's CA) as
well as `SSL_CERT_FILE`/`SSL_CERT_DIR`; proxies from `HTTP(S)_PROXY`/`NO_PROXY` as httpx
reads them (NO_PROXY by host or domain: a network such as 127.0.0.0/8 is not read). A
bundle that cannot be read, or a proxy address httpx cannot use, is `SettingsInvalid` as
the client is made (at start), naming the variable, never its value."""

from __future__ import annotations

import logging
import os
import ssl
from typing import Any

import httpx
from twilio.base.exceptions import TwilioException
from twilio.http import HttpClient
from twilio.http.response import Response

from hotline.errors import SettingsInvalid

IDLE_FOR = 2.0  # seconds a connection is kept idle: well under the carriers' keep-alive
BUNDLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")  # as requests read them, in its order
PROXIES = tuple(n for kind in ("https", "http", "all")  # (as httpx reads them)
                for n in (f"{kind.upper()}_PROXY", f"{kind}_proxy"))  # fmt: skip


class CarrierHttp(HttpClient):  # type: ignore[misc]  # (twilio is untyped)
    def __init__(self, *, timeout: float, idle_for: float = IDLE_FOR) -> None:
        """`timeout`: seconds a request waits at most for each of: a free connection, to
        connect, to write, and for each read (a carrier that does not answer must not hold
        one for ever); `idle_for`: seconds an idle connection may be used again (one idle
        longer is closed when the next request comes, and a new one made)."""
        super().__init__(logging.getLogger("hotline.carrier"), False, timeout)
        # (httpx's own caps, said again: a Limits without them has none)
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20,
                              keepalive_expiry=idle_for)  # fmt: skip
        verify = _trusted()
        try:
            self._client = httpx.Client(timeout=timeout, follow_redirects=False,
                                        verify=verify, limits=limits)  # fmt: skip
        except (httpx.InvalidURL, ValueError, ImportError):  # (a proxy's address: not echoed,
            names = [n for n in PROXIES if os.environ.get(n)]  # it may hold a password)
            if not names:
                raise
            raise SettingsInvalid(
                f"{' or '.join(names)}: not a proxy address the carrier's client can use "
                "(fix: http://HOST:PORT or https://HOST:PORT; socks5:// needs the socksio "
                "package)"
            ) from None

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        body: dict[str, Any] = {"data": data}
        if headers and headers.get("Content-Type", "").endswith("json"):
            body = {"json": data}
        try:
            target = httpx.URL(url)
            if params:  # added to the URL's own query, one that is None left out (as
                # Twilio's client on requests did; httpx's `params` would replace it)
                target = target.copy_merge_params(
                    {k: v for k, v in params.items() if v is not None}
                )
            answer = self._client.request(
                method.upper(), target, headers=headers, auth=auth,
                timeout=self.timeout if timeout is None else timeout,
                follow_redirects=allow_redirects, **body,
            )  # fmt: skip
        except (httpx.InvalidURL, ValueError) as e:  # (not HTTPErrors: nothing was sent; a
            # host name IDNA refuses is a ValueError of the idna package)
            raise TwilioException(f"no request can go to that address ({e})") from None
        except httpx.HTTPError as e:
            raise TwilioException(f"the carrier did not answer ({type(e).__name__}: {e})") from None
        return Response(answer.status_code, answer.text, answer.headers)

    def close(self) -> None:
        self._client.close()


def _trusted() -> ssl.SSLContext | bool:
    """The CAs a carrier's certificate is checked against: a bundle named for requests
    (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE: a file or a folder) if set, else httpx's own
    (which reads SSL_CERT_FILE and SSL_CERT_DIR)."""
    name = next((n for n in BUNDLES if os.environ.get(n)), None)
    if name is None:
        return True
    bundle = os.environ[name]
    try:
        if os.path.isdir(bundle):
            return ssl.create_default_context(capath=bundle)
        return ssl.create_default_context(cafile=bundle)
    except OSError as e:  # (ssl.SSLError is one: a file with no certificate in it)
        why = e.reason if isinstance(e, ssl.SSLError) else e.strerror
        raise SettingsInvalid(
            f"{name}: no CA certificates could be read from it ({why}) (fix: name a PEM "
            "bundle or a folder of them this process can read, or unset it)"
        ) from None
