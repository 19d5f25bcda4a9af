"""What an HTTP connector is told in `connectors.yaml`: the system's base URL, TLS, time
limits, retries, the circuit breaker, and per operation the request and the answer's schema."""

from __future__ import annotations

import ipaddress
import re
import string
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,127}")
PARAM = re.compile(r"[a-z_][a-z0-9_]{0,63}")
LOOPBACK_NAMES = ("localhost",)

FieldType = Literal["string", "integer", "number", "boolean", "date"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def env_name(value: str | None) -> str | None:
    if value is not None and not ENV_NAME.fullmatch(value):
        raise ValueError("is not an environment variable's name (capitals, digits and _)")
    return value


class FieldSpec(_Strict):
    """One field of the answer: its JSON type, and whether the record must have it."""

    type: FieldType
    required: bool = True


class HttpOperation(_Strict):
    """One look-up: `path` may name parameters (`/cases/{case_id}`), each sent as one
    percent-encoded path segment; `query` and `body` map the names the system expects to the
    look-up's parameters. `fields`: the answer's schema; `unknown_fields`: what happens to a
    field the schema does not declare ("drop": it never reaches the hotline; "refuse": the
    answer is an error)."""

    method: Literal["GET", "POST"] = "GET"
    path: str
    query: dict[str, str] = Field(default_factory=dict)
    body: dict[str, str] = Field(default_factory=dict)
    fields: dict[str, FieldSpec] = Field(min_length=1)
    unknown_fields: Literal["drop", "refuse"] = "drop"

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/") or any(c in value for c in "?#\\ ") or "%" in value:
            raise ValueError(
                "must be a path starting with / with no query, fragment, space or %-escape "
                "(fix: put query parameters under `query:`)"
            )
        for _, name, spec, conv in string.Formatter().parse(value):
            if name is not None and (not PARAM.fullmatch(name) or spec or conv):
                raise ValueError(f"names a parameter {{{name}}} that is not a plain name like "
                                 "{case_id}")  # fmt: skip
        return value

    @field_validator("query", "body")
    @classmethod
    def _params(cls, value: dict[str, str]) -> dict[str, str]:
        for sent, param in value.items():
            if not PARAM.fullmatch(param):
                raise ValueError(f"{sent!r}: {param!r} is not a parameter's name like case_id")
        return value

    @model_validator(mode="after")
    def _body_needs_post(self) -> HttpOperation:
        if self.body and self.method != "POST":
            raise ValueError("a `body` is sent with method POST only")
        return self

    def path_params(self) -> list[str]:
        return [n for _, n, _, _ in string.Formatter().parse(self.path) if n is not None]

    def params(self) -> set[str]:
        """Every parameter the request needs."""
        return {*self.path_params(), *self.query.values(), *self.body.values()}


class TlsSettings(_Strict):
    """TLS is always verified (there is no switch to turn it off): `ca_bundle` trusts a
    private CA; `client_cert` and `client_key` (PEM files) prove who we are (mutual TLS),
    the key's password, if any, from the environment variable `client_key_password_env`."""

    ca_bundle: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    client_key_password_env: str | None = None

    @field_validator("client_key_password_env")
    @classmethod
    def _env(cls, value: str | None) -> str | None:
        return env_name(value)

    @model_validator(mode="after")
    def _pair(self) -> TlsSettings:
        if (self.client_cert is None) != (self.client_key is None):
            raise ValueError("client_cert and client_key are given together (mutual TLS)")
        if self.client_key_password_env and self.client_key is None:
            raise ValueError("client_key_password_env needs a client_key")
        return self


class RetrySettings(_Strict):
    """Connect errors and 502/503/504 are tried again, up to `attempts` in all, after
    a delay drawn uniformly from 0 to min(max_delay, base_delay × 2^n) (full jitter)."""

    attempts: int = Field(default=3, ge=1, le=10)
    base_delay: float = Field(default=0.2, gt=0, le=10)
    max_delay: float = Field(default=2.0, gt=0, le=30)


class BreakerSettings(_Strict):
    """After `failures` look-ups in a row that failed (no answer, or a 5xx), the circuit
    opens: look-ups answer "error" at once for `cool_down` seconds, then one is let through
    (half-open); its success closes the circuit, its failure opens it again."""

    failures: int = Field(default=5, ge=1, le=1000)
    cool_down: float = Field(default=30.0, gt=0, le=3600)


class HttpSettings(_Strict):
    kind: Literal["http"]
    description: str = ""
    base_url: str
    token_env: str | None = None  # a bearer token, sent as Authorization: Bearer ...
    tls: TlsSettings = TlsSettings()
    connect_timeout: float = Field(default=2.0, gt=0, le=30)
    read_timeout: float = Field(default=5.0, gt=0, le=60)
    deadline: float = Field(default=7.0, gt=0, le=60)  # all attempts and delays of a look-up
    max_answer_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)
    retry: RetrySettings = RetrySettings()
    breaker: BreakerSettings = BreakerSettings()
    operations: dict[str, HttpOperation] = Field(min_length=1)

    @field_validator("token_env")
    @classmethod
    def _env(cls, value: str | None) -> str | None:
        return env_name(value)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        # the value is never quoted back: a URL may carry a password
        parts = urlsplit(value)
        if parts.username is not None or parts.password is not None:
            raise ValueError(
                "must not carry a user or password (fix: put a token in the environment "
                "variable named by token_env)"
            )
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("is not an http(s) URL with a host")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query or fragment")
        if parts.scheme == "http" and not _loopback(parts.hostname):
            raise ValueError(
                "uses plain http to a host that is not this machine (fix: use https; plain "
                "http is for 127.0.0.1 only)"
            )
        return value.rstrip("/")


def _loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
