"""An HTTP/JSON record system behind the connector port.

Every look-up is one request built from the operation's template, the look-up's parameters
only ever sent as encoded values (a path segment, a query parameter, a JSON string), so what
a caller or agent typed reaches the system as data. What can go wrong becomes an "error"
answer with a reason that never quotes a parameter, a token or the system's own words:

    connect error, 502/503/504   tried again (full-jitter backoff) within the deadline
    read timeout                 error (not tried again: the system may be working on it)
    404                          not_found
    other 4xx, other 5xx         error
    not JSON, not the schema     error
    circuit open                 error at once, the system left alone for its cool-down
"""

from __future__ import annotations

import json
import random
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from hotline.ivr.interpreter import LookupResult
from hotline.records.http.breaker import CircuitBreaker
from hotline.records.http.schema import SchemaViolation, record_fields
from hotline.records.http.settings import HttpOperation, HttpSettings
from hotline.records.port import LookupRequest, error

RETRIED_STATUSES = frozenset({502, 503, 504})


@dataclass(frozen=True)
class HttpSecrets:
    """What the environment gave: the bearer token, the client key's password."""

    token: str | None = None
    key_password: str | None = None

    def __repr__(self) -> str:
        return "HttpSecrets(****)"


class _Failed(Exception):
    """One attempt that did not get an answer worth having (`retry`: worth another)."""

    def __init__(self, reason: str, *, retry: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry


def tls_context(settings: HttpSettings, key_password: str | None) -> ssl.SSLContext:
    """Verifies the server (against `ca_bundle` if given) and, for mutual TLS, presents our
    certificate. Raises OSError / ssl.SSLError for a file that cannot be used."""
    tls = settings.tls
    context = ssl.create_default_context(
        cafile=str(tls.ca_bundle) if tls.ca_bundle is not None else None
    )
    if tls.client_cert is not None and tls.client_key is not None:
        context.load_cert_chain(str(tls.client_cert), str(tls.client_key), key_password)
    return context


class HttpConnector:
    def __init__(
        self,
        *,
        settings: HttpSettings,
        secrets: HttpSecrets = HttpSecrets(),
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        """`clock` and `sleep` time the deadline, the backoff and the circuit breaker; `rng`
        draws the backoff's jitter (seed it to replay the delays)."""
        self.settings = settings
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        b = settings.breaker
        self.breaker = CircuitBreaker(failures=b.failures, cool_down=b.cool_down, clock=clock)
        headers = {"Accept": "application/json", "User-Agent": "hotline-records/1"}
        if secrets.token is not None:
            headers["Authorization"] = f"Bearer {secrets.token}"
        self._client = httpx.Client(
            base_url=settings.base_url,
            headers=headers,
            verify=tls_context(settings, secrets.key_password),
            follow_redirects=False,  # a redirect would take the request (and token) elsewhere
            trust_env=False,  # no proxy or CA from the environment: the config says it all
        )

    def close(self) -> None:
        self._client.close()

    def lookup(self, request: LookupRequest) -> LookupResult:
        op = self.settings.operations.get(request.operation)
        if op is None:
            return error(f"unknown operation {request.operation[:60]!r}")
        missing = sorted(op.params() - set(request.params))
        if missing:
            return error(f"the look-up lacks the parameter {missing[0]!r}")
        if not self.breaker.allow():
            return error(
                f"the record system failed {self.settings.breaker.failures} look-ups in a row: "
                f"not asked again for {self.breaker.retry_in():.0f} s (circuit open)"
            )
        try:
            result = self._ask(op, request.params)
        except _Failed as failed:
            self.breaker.record(ok=False)
            return error(failed.reason)
        self.breaker.record(ok=True)
        return result

    def _ask(self, op: HttpOperation, params: Mapping[str, str]) -> LookupResult:
        """Attempts within the deadline; raises _Failed when the system did not answer."""
        retry = self.settings.retry
        end = self._clock() + self.settings.deadline
        for attempt in range(retry.attempts):
            left = end - self._clock()
            if left <= 0:
                raise _Failed(f"no answer within the deadline of {self.settings.deadline:g} s",
                              retry=False)  # fmt: skip
            try:
                return self._once(op, params, left)
            except _Failed as failed:
                if not failed.retry:
                    raise
                if attempt + 1 == retry.attempts:
                    times = f", {retry.attempts} times" if retry.attempts > 1 else ""
                    raise _Failed(failed.reason + times, retry=False) from None
                cap = min(retry.max_delay, retry.base_delay * 2**attempt)
                delay = self._rng.uniform(0, cap)
                if self._clock() + delay >= end:
                    raise _Failed(f"{failed.reason}; no time left to try again before the "
                                  f"deadline of {self.settings.deadline:g} s",
                                  retry=False) from None  # fmt: skip
                self._sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _once(self, op: HttpOperation, params: Mapping[str, str], left: float) -> LookupResult:
        s = self.settings
        timeout = httpx.Timeout(
            connect=min(s.connect_timeout, left),
            read=min(s.read_timeout, left),
            write=min(s.read_timeout, left),
            pool=min(s.connect_timeout, left),
        )
        path = op.path.format_map({n: _segment(params[n]) for n in op.path_params()})
        query = {sent: params[p] for sent, p in op.query.items()}
        body = {sent: params[p] for sent, p in op.body.items()} if op.method == "POST" else None
        # the reasons name the exception's type only: its message may quote the URL
        try:
            with self._client.stream(
                op.method, path, params=query, json=body, timeout=timeout
            ) as response:
                status = response.status_code
                if status == 404:
                    return LookupResult("not_found")
                if status in RETRIED_STATUSES:
                    raise _Failed(f"the record system is unavailable (HTTP {status})", retry=True)
                if status >= 500:
                    raise _Failed(f"the record system failed (HTTP {status})", retry=False)
                if not 200 <= status < 300:
                    return error(f"the record system refused the look-up (HTTP {status})")
                content = self._read(response)
        except (httpx.ConnectError, httpx.ConnectTimeout) as e:
            if _tls_refused(e):  # not a passing trouble: trying again would not help
                raise _Failed(
                    "the TLS handshake with the record system failed (check "
                    "ca_bundle and the client certificate)",
                    retry=False,
                ) from None
            raise _Failed(f"cannot connect to the record system ({type(e).__name__})",
                          retry=True) from None  # fmt: skip
        except httpx.TimeoutException as e:
            raise _Failed(f"the record system did not answer in time ({type(e).__name__})",
                          retry=False) from None  # fmt: skip
        except httpx.HTTPError as e:
            raise _Failed(f"the exchange with the record system failed ({type(e).__name__})",
                          retry=False) from None  # fmt: skip
        return self._record(op, content)

    def _read(self, response: httpx.Response) -> bytes:
        limit = self.settings.max_answer_bytes
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                raise _Failed(f"the answer is larger than {limit} bytes", retry=False)
            chunks.append(chunk)
        return b"".join(chunks)

    def _record(self, op: HttpOperation, content: bytes) -> LookupResult:
        try:
            answer: Any = json.loads(content)
        except (ValueError, RecursionError):  # (UnicodeDecodeError is a ValueError)
            return error("the answer is not JSON")
        try:
            fields = record_fields(answer, op.fields, refuse_unknown=op.unknown_fields == "refuse")
        except SchemaViolation as e:
            return error(f"the answer does not fit the schema: {e}")
        return LookupResult("found", fields)


def _segment(value: str) -> str:
    """A parameter as one path segment: `/` and `%` encoded like everything else, and the
    dots too, so `..` names a record, never the parent path."""
    return quote(value, safe="").replace(".", "%2E")


def _tls_refused(e: BaseException) -> bool:
    seen: BaseException | None = e
    for _ in range(5):  # httpx wraps httpcore's error, which wraps the ssl module's
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
