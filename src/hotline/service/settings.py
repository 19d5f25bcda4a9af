"""The live server's settings: `HOTLINE_` environment variables, nothing secret in files.

`load_settings()` is how commands read them: a mistake (bad JSON, an unknown time zone, an
unsupported database URL, a public URL that is not one) becomes one `SettingsInvalid`
naming every wrong setting and its fix, never echoing a value (it may be a secret)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import SettingsError as _SourceError

from hotline.errors import SettingsInvalid
from hotline.service.sealing import MISSING, Keyring, SealingKey, parse_previous
from hotline.store.db import sqlite_path
from hotline.store.repository import RETENTION_CLASSES

PREFIX = "HOTLINE_"
DATABASE_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg")
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
SIP = re.compile(r"sip:[A-Za-z0-9._~+-]{1,64}@[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?")


def _web_url(value: str, what: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"is not an http(s) URL with a host; set it to {what}")
    if parts.query or parts.fragment:
        raise ValueError(f"must not have a query or fragment; set it to {what}")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"must not carry a user or password; set it to {what}")
    try:
        parts.port  # noqa: B018 - a port that is not a number (or out of range) raises
    except ValueError:
        raise ValueError(
            f"has a port that is not a number from 0 to 65535; set it to {what}"
        ) from None
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="ignore")

    database_url: str = "sqlite:///hotline.sqlite3"
    scenario: Path = Path("scenarios/national-hotline.yaml")
    flow: Path = Path("scenarios/national-hotline.flow.yaml")
    connectors: dict[str, Path] = {}  # name -> in-memory connector file (tests, demos)
    connectors_file: Path | None = None  # connectors.yaml: http, sql and memory connectors
    # the disclosure policy (records.policy): with it, agents look records up from the
    # desktop in the record types connectors.yaml's `records:` says where to find
    records_policy: Path | None = None
    # days each class of data is kept (store.repository.RETENTION_CLASSES): ended calls
    # with their events, and the answers kept for retried webhooks; the audit trail is
    # never purged. `hotline serve` purges hourly; `hotline purge` on demand.
    retention_days: dict[str, float] = {"calls": 365.0, "replies": 30.0}
    line_number: str = "+18005550100"  # the number callers dial; others get a polite refusal
    public_url: str = "http://127.0.0.1:8000"  # as the carrier sees us (signatures use it)
    twilio_account_sid: str = "AC00000000000000000000000000000000"
    twilio_auth_token: SecretStr | None = None  # required: unsigned webhooks are refused
    twilio_api_base: str = "https://api.twilio.com"
    timezone: str = "America/New_York"  # the line's local time for flows
    # seals at rest the TOTP secrets, calls' attributes and wrap-up notes (service.sealing)
    secret_key: SecretStr | None = None
    # keys that still open what they sealed, after a rotation (comma-separated or a JSON
    # list), until `hotline rekey` has sealed it all again under HOTLINE_SECRET_KEY
    previous_secret_keys: SecretStr | None = None
    # how agents' phones are reached: a phone number (E.164) or SIP address per agent id;
    # an agent not listed is reached in the browser (the carrier's client:ID)
    agent_phones: dict[str, str] = {}
    interpreter_number: str | None = None  # the telephone interpreting service agents add
    # the browser phone's access tokens (the carrier's API key; unset: no browser phone)
    twilio_api_key: str | None = None
    twilio_api_secret: SecretStr | None = None
    twilio_twiml_app_sid: str | None = None
    # where browser phones signal: unset, the SDK's own (the carrier's edge); the carrier
    # emulator's wss://127.0.0.1:PORT/signal in a demo or test (the SDK adds /signal itself)
    twilio_signal_url: str | None = None
    # the bearer token Prometheus sends for /metrics (unset: /metrics is off)
    metrics_token: SecretStr | None = None
    # prompts in a language the carrier has no voice for (Haitian Creole, K'iche'):
    # "auto" plays them spoken by espeak-ng if it is installed (else the carrier reads them
    # in its default voice, and the start says so), "espeak" requires it, "off" never
    speech: Literal["auto", "espeak", "off"] = "auto"

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: str) -> str:
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if scheme not in DATABASE_SCHEMES:
            shown = f"scheme {scheme!r}" if scheme and len(scheme) < 32 else "no scheme"
            raise ValueError(
                f"is not a supported database URL ({shown}); use sqlite:///path/to/file.sqlite3 "
                "or postgresql://user@host:5432/database"
            )
        if scheme == "sqlite" and sqlite_path(value) is None:
            raise ValueError(
                "names no database file (an in-memory database would lose every call at a "
                "restart); use sqlite:///path/to/file.sqlite3"
            )
        return value

    @field_validator("retention_days")
    @classmethod
    def _retention(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(RETENTION_CLASSES))
        if unknown:
            raise ValueError(f"names no data class {', '.join(unknown)}; the classes are "
                             f"{', '.join(RETENTION_CLASSES)}")  # fmt: skip
        if any(not (1 <= days <= 36500) for days in value.values()):
            raise ValueError("keeps each class from 1 to 36500 days")
        return value

    @field_validator("public_url")
    @classmethod
    def _public(cls, value: str) -> str:
        return _web_url(value, "the address the carrier reaches this server at")

    @field_validator("twilio_api_base")
    @classmethod
    def _api_base(cls, value: str) -> str:
        return _web_url(value, "the carrier's REST API base, e.g. https://api.twilio.com")

    @field_validator("twilio_signal_url")
    @classmethod
    def _signal(cls, value: str | None) -> str | None:
        if value is None:
            return None
        what = "the carrier emulator's signalling endpoint, e.g. wss://127.0.0.1:8443/signal"
        parts = urlsplit(value)
        if parts.scheme != "wss" or not parts.hostname or parts.path != "/signal":
            raise ValueError(
                f"is not a wss://HOST[:PORT]/signal URL (the voice SDK connects to nothing "
                f"else); set it to {what}, or leave it unset for the carrier's own"
            )
        _web_url("https://" + value.removeprefix("wss://"), what)  # a host; no user, query...
        return value

    @field_validator("agent_phones")
    @classmethod
    def _phones(cls, value: dict[str, str]) -> dict[str, str]:
        for agent_id, address in value.items():
            if not (E164.fullmatch(address) or SIP.fullmatch(address)):
                raise ValueError(
                    f"agent {agent_id[:40]!r}: {address[:60]!r} is neither a phone number in "
                    "E.164 form (+12025550143) nor a SIP address (sip:agent@pbx.example.org)"
                )
        return value

    @field_validator("interpreter_number")
    @classmethod
    def _interpreter(cls, value: str | None) -> str | None:
        if value is not None and not (E164.fullmatch(value) or SIP.fullmatch(value)):
            raise ValueError("is neither a phone number in E.164 form nor a SIP address")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                "is not a known time zone; use an IANA name such as America/New_York"
            ) from None
        return value

    @field_validator("secret_key")
    @classmethod
    def _secret_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            SealingKey.parse(value.get_secret_value())  # ValueError names no part of it
        return value

    @field_validator("previous_secret_keys")
    @classmethod
    def _previous_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_previous(value.get_secret_value())  # ValueError names no part of them
        return value

    def keyring(self) -> Keyring | None:
        """The current key and the previous ones (None if HOTLINE_SECRET_KEY is not set:
        a store then reads what was written in clear and refuses to write a sensitive
        value)."""
        current = self.sealing_key()
        if current is None:
            return None
        old = self.previous_secret_keys
        return Keyring(current, [] if old is None else parse_previous(old.get_secret_value()))

    def required_keyring(self) -> Keyring:
        """The keyring; refuses a missing HOTLINE_SECRET_KEY."""
        keyring = self.keyring()
        if keyring is None:
            raise SettingsInvalid(MISSING)
        return keyring

    def sealing_key(self) -> SealingKey | None:
        """The key that seals the accounts' TOTP secrets, or None if it is not set (what
        needs it then refuses, naming the setting: `required_sealing_key`)."""
        key = self.secret_key
        return None if key is None else SealingKey.parse(key.get_secret_value())

    def required_sealing_key(self) -> SealingKey:
        """The sealing key; refuses a missing one (`hotline serve` needs it to start)."""
        key = self.sealing_key()
        if key is None:
            raise SettingsInvalid(MISSING)
        return key

    def webhook_secret(self) -> str:
        """The auth token that signs the carrier's webhooks; refuses a missing or blank one
        (a blank key would accept webhooks anybody can sign)."""
        token = self.twilio_auth_token
        if token is None:
            raise SettingsInvalid(
                f"{PREFIX}TWILIO_AUTH_TOKEN is not set: the carrier's webhooks cannot be "
                "verified (fix: set it to the carrier account's auth token)"
            )
        if not token.get_secret_value().strip():
            raise SettingsInvalid(
                f"{PREFIX}TWILIO_AUTH_TOKEN is empty: the carrier's webhooks cannot be "
                "verified (fix: set it to the carrier account's auth token)"
            )
        return token.get_secret_value()


def load_settings() -> Settings:
    """The settings from the environment, or SettingsInvalid listing every mistake."""
    try:
        return Settings()
    except _SourceError as e:  # a value that is not the JSON the setting needs
        raise SettingsInvalid(_source_message(str(e))) from None
    except ValidationError as e:
        lines = []
        for err in e.errors(include_input=False, include_url=False):
            name = PREFIX + ".".join(str(p) for p in err["loc"][:1]).upper()
            msg = str(err["msg"]).removeprefix("Value error, ")
            lines.append(f"{name} {msg}")
        raise SettingsInvalid("\n".join(lines)) from None


def _source_message(text: str) -> str:
    # pydantic-settings says: error parsing value for field "connectors" from source ...
    field = text.split('"')[1] if text.count('"') >= 2 else "a setting"
    return (
        f"{PREFIX}{field.upper()} is not valid JSON "
        '(fix: write it as a JSON object, e.g. {"name": "path/to/file.yaml"})'
    )
