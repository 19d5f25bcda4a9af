"""The HTTP client under the carrier's REST client (`twilio.rest.Client`), on httpx.

The carrier's servers close a keep-alive connection that stays idle past their own limit
(the emulator's: uvicorn's 5 s). A client that reuses a connection at the moment the
server closes it sends its request into a closing socket and gets a reset: the request
fails although the carrier was there. Twilio's own client (on requests) keeps idle
connections for ever, so a busy line met that race (a connect's update refused, its caller
requeued and its agent offered the call for nothing). Here a connection idle for IDLE_FOR
seconds is closed by us before the carrier's limit, so every request goes out on a
connection the carrier still keeps (or a new one): one rule, as the nodes' relay has it.

A carrier limits how many requests an account has under way at once and refuses the rest
with 429 (Twilio: error 20429), having done nothing: such a request is sent again after a
short wait, growing (up to BACKOFF, twice it, ...; the carrier's Retry-After in seconds
instead, if it sends one, up to MAX_WAIT), RETRIES times at most; still refused, the 429
is its answer (a CarrierError to the line, which says what became of the call). Nodes and
groups need not share a cap of their own to stay under the account's.

A carrier that cannot be reached, or does not answer within the timeout, or an address
that is not one, is a `TwilioException` (the control adapter's one error for "the carrier
did not do it"). The environment is read as Twilio's client read it where a deployment
relies on it: `REQUESTS_CA_BUNDLE` or `CURL_CA_BUNDLE` (a TLS-inspecting proxy's CA) as
well as `SSL_CERT_FILE`/`SSL_CERT_DIR`; proxies from `HTTP(S)_PROXY`/`ALL_PROXY`/`NO_PROXY`
as httpx reads them (NO_PROXY by host or domain: a network such as 127.0.0.0/8 is not
matched). A CA file that cannot be read, or proxy settings httpx cannot use, are
`SettingsInvalid` as the client is made (at start), naming the variable, never its value
(a folder of CAs is read only as a certificate is checked)."""

from __future__ import annotations

import logging
import os
import random
import ssl
import time
from typing import Any

import httpx
from twilio.base.exceptions import TwilioException
from twilio.http import HttpClient
from twilio.http.response import Response

from hotline.errors import SettingsInvalid

IDLE_FOR = 2.0  # seconds a connection is kept idle: well under the carriers' keep-alive
TOO_MANY = 429  # the carrier's "too many requests at once"
RETRIES = 4  # times a request refused with it is sent again (waits up to 3.75 s in all)
BACKOFF = 0.25  # seconds at most before the first (each next up to twice as long; each at
# least half its most, spread at random: requests refused together come back apart)
MAX_WAIT = 5.0  # seconds at most of a Retry-After taken as it is
# (requests' own, then httpx's, in their order)
BUNDLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")
PROXIES = frozenset({"https_proxy", "http_proxy", "all_proxy", "no_proxy"})  # (lower case)


class CarrierHttp(HttpClient):  # type: ignore[misc]  # (twilio is untyped)
    def __init__(
        self, *, timeout: float, idle_for: float = IDLE_FOR, backoff: float = BACKOFF
    ) -> None:
        """`timeout`: seconds a request waits at most for each of: a free connection, to
        connect, to write, and for each read (a carrier that does not answer must not hold
        one for ever); `idle_for`: seconds an idle connection may be used again (one idle
        longer is closed when the next request comes, and a new one made); `backoff`:
        seconds before a request refused as one too many goes again (then twice it, ...)."""
        super().__init__(logging.getLogger("hotline.carrier"), False, timeout)
        self.backoff = backoff
        # No cap on connections in use: each is used by one thread at a time, and the
        # threads that use a client are bounded already (each group's carrier threads, a
        # takeover's or a recheck's status look-ups), but one node's groups share it, so
        # any cap short of their sum (httpx's default, 100, against 3 groups' 96 and a
        # 4th's takeover's 32) only has a thread wait, up to `timeout`, for nothing: the
        # carrier's own limit is met by sending again what it refused (above). Idle ones
        # kept: up to 100, each for `idle_for` at most (httpx's 20 closed all but 20 of a
        # burst's, and the next burst made each again)
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=100,
                              keepalive_expiry=idle_for)  # fmt: skip
        verify = _trusted()
        try:
            self._client = httpx.Client(timeout=timeout, follow_redirects=False,
                                        verify=verify, limits=limits)  # fmt: skip
        except (httpx.InvalidURL, ValueError, ImportError):  # (httpx reads nothing else there)
            raise _proxies_refused() from None

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
            for retry in range(RETRIES + 1):
                answer = self._client.request(
                    method.upper(), target, headers=headers, auth=auth,
                    timeout=self.timeout if timeout is None else timeout,
                    follow_redirects=allow_redirects, **body,
                )  # fmt: skip
                if answer.status_code != TOO_MANY or retry == RETRIES:
                    break
                # (spread: requests refused together do not all come back together)
                wait = _retry_after(answer) or self.backoff * 2**retry * random.uniform(0.5, 1)
                self.logger.info("the carrier refused %s %s as one too many at once: sent "
                                 "again in %.2f s", method.upper(), target.path, wait)  # fmt: skip
                time.sleep(wait)
        except (httpx.InvalidURL, ValueError) as e:  # (not HTTPErrors: nothing was sent; a
            # host name IDNA refuses is a ValueError of the idna package)
            raise TwilioException(f"no request can go to that address ({e})") from None
        except httpx.HTTPError as e:
            raise TwilioException(f"the carrier did not answer ({type(e).__name__}: {e})") from None
        return Response(answer.status_code, answer.text, answer.headers)

    def close(self) -> None:
        self._client.close()


def _retry_after(answer: httpx.Response) -> float | None:
    """The wait a 429's Retry-After asks for, in seconds, up to MAX_WAIT (None: it asks
    for none, or not in seconds)."""
    try:
        asked = float(answer.headers.get("Retry-After", ""))
    except ValueError:
        return None
    return min(asked, MAX_WAIT) if asked > 0 else None


def _proxies_refused() -> SettingsInvalid:
    """httpx could not make a client of the proxy variables (as urllib reads them: any
    letter case); which one, if a proxy's address is not a URL, else all those set (a
    NO_PROXY entry it cannot read, an IPv6 network, or a socks5:// proxy without socksio).
    Never their values: a proxy's address may hold a password."""
    named = sorted(n for n, v in os.environ.items() if v and n.lower() in PROXIES)
    bad = [n for n in named if n.lower() != "no_proxy" and not _usable(os.environ[n])]
    return SettingsInvalid(
        f"{', '.join(bad or named) or 'the proxy settings'}: not proxy settings the "
        "carrier's client can use (fix: a proxy as http://HOST:PORT, NO_PROXY as host names, "
        "domains and addresses, no IPv6 network; socks5:// needs the socksio package)"
    )


def _usable(proxy: str) -> bool:
    try:
        httpx.Proxy(proxy if "://" in proxy else f"http://{proxy}")  # (as httpx reads it)
    except (httpx.InvalidURL, ValueError):
        return False
    return True


def _trusted() -> ssl.SSLContext | bool:
    """The CAs a carrier's certificate is checked against: the first set of a bundle named
    for requests (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE) or for OpenSSL (SSL_CERT_FILE,
    SSL_CERT_DIR), a file or a folder, as the libraries read them; else httpx's own
    (certifi's)."""
    name = next((n for n in BUNDLES if os.environ.get(n)), None)
    if name is None:
        return True
    bundle = os.environ[name]
    try:
        if os.path.isdir(bundle):
            return ssl.create_default_context(capath=bundle)
        return ssl.create_default_context(cafile=bundle)
    except OSError as e:  # (ssl.SSLError is one: a file with no certificate in it)
        why = (e.reason if isinstance(e, ssl.SSLError) else e.strerror) or type(e).__name__
        raise SettingsInvalid(
            f"{name}: no CA certificates could be read from it ({why}) (fix: name a PEM "
            "bundle or a folder of them this process can read, or unset it)"
        ) from None
