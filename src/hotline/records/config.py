"""`connectors.yaml`: the record systems a line may look records up in, by name.

    connectors:
      case_records: {kind: http, base_url: https://..., token_env: ..., operations: ...}
      agency_directory: {kind: memory, file: demo-agency-directory.yaml}
      archive: {kind: sql, url_env: ARCHIVE_DB_URL, operations: ...}

Validated like a flow (every problem with its `file:line:column`); secrets are named, never
written: an environment variable that is named but not set stops the start, naming the
variable (and never a value). Relative paths are relative to the file."""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hotline.errors import ConfigError, HotlineError, Problem
from hotline.records.desk import RecordSource
from hotline.records.http import HttpConnector, HttpSecrets, HttpSettings
from hotline.records.port import Connector
from hotline.records.sql import SqlConnector, SqlSettings
from hotline.testing.connectors import InMemoryConnector
from hotline.yamlfile import Loc, Marks, compose, problem_at, read_text, shape_problems

NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


class MemorySettings(BaseModel):
    """Records from a file (tests, demos): see hotline.testing.connectors."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["memory"]
    description: str = ""
    file: Path


ConnectorSettings = Annotated[HttpSettings | SqlSettings | MemorySettings,
                              Field(discriminator="kind")]  # fmt: skip


class RecordSourceSettings(BaseModel):
    """Where agents look up records of one type: a connector of this file, one of its
    operations, and the parameter a record's reference goes in."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    connector: str
    operation: str
    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")


class ConnectorsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    connectors: dict[str, ConnectorSettings] = Field(min_length=1)
    # record type (of the disclosure policy) -> where the agent desktop looks it up
    records: dict[str, RecordSourceSettings] = {}


def load_record_sources(path: str | Path) -> dict[str, RecordSource]:
    """The file's `records:` section: which connector and operation serve each record
    type the agent desktop looks up; a connector or operation the file does not have is a
    ConfigError with its file:line."""
    parsed, marks, filename = _parsed(path)
    problems: list[Problem] = []
    for record_type, src in parsed.records.items():
        settings = parsed.connectors.get(src.connector)
        if settings is None:
            problems.append(problem_at(("records", record_type, "connector"),
                                       f"no connector {src.connector!r} in this file", marks,
                                       filename, _one_of(parsed.connectors)))  # fmt: skip
        elif not isinstance(settings, MemorySettings) and src.operation not in settings.operations:
            problems.append(problem_at(("records", record_type, "operation"),
                                       f"connector {src.connector!r} has no operation "
                                       f"{src.operation!r}", marks, filename,
                                       _one_of(settings.operations)))  # fmt: skip
    if problems:
        raise ConfigError(problems)
    return {t: RecordSource(t, s.connector, s.operation, s.key) for t, s in parsed.records.items()}


def _parsed(path: str | Path) -> tuple[ConnectorsFile, Marks, str]:
    """The file read and checked against its shape (every problem with file:line)."""
    filename = str(path)
    data, marks = compose(read_text(path), filename)
    try:
        return ConnectorsFile.model_validate(data), marks, filename
    except ValidationError as e:
        raise ConfigError(shape_problems(e, marks, filename)) from None


def _one_of(names: Mapping[str, object]) -> str:
    return f"one of {', '.join(sorted(names))}"


def load_connectors(
    path: str | Path, environ: Mapping[str, str] | None = None
) -> dict[str, Connector]:
    """The connectors of a `connectors.yaml`, built; ConfigError lists every problem."""
    env = os.environ if environ is None else environ
    parsed, marks, filename = _parsed(path)
    problems: list[Problem] = []
    for name, settings in parsed.connectors.items():
        if not NAME.fullmatch(name):
            problems.append(problem_at(("connectors", name), "is not a connector's name",
                                       marks, filename, "lower-case letters, digits and _, "
                                       "like case_records"))  # fmt: skip
        for key, var in _variables(settings):
            if not env.get(var):
                unset = f"the environment variable {var} is not set"
                fix = f"set {var} before the start, or remove the setting"
                problems.append(problem_at(("connectors", name, *key), unset, marks, filename, fix))
    if problems:
        raise ConfigError(problems)
    base = Path(path).resolve().parent
    built: dict[str, Connector] = {}
    for name, settings in parsed.connectors.items():
        try:
            built[name] = _build(_resolved(settings, base), env, (("connectors", name), marks,
                                                                  filename))  # fmt: skip
        except ConfigError as e:
            problems += e.problems
    if problems:
        raise ConfigError(problems)
    return built


def _variables(settings: ConnectorSettings) -> list[tuple[Loc, str]]:
    if isinstance(settings, HttpSettings):
        out: list[tuple[Loc, str]] = []
        if settings.token_env:
            out.append((("token_env",), settings.token_env))
        if settings.tls.client_key_password_env:
            out.append((("tls", "client_key_password_env"), settings.tls.client_key_password_env))
        return out
    if isinstance(settings, SqlSettings):
        return [(("url_env",), settings.url_env)]
    return []


def _resolved(settings: ConnectorSettings, base: Path) -> ConnectorSettings:
    def at(p: Path | None) -> Path | None:
        return None if p is None else base / p

    if isinstance(settings, MemorySettings):
        return settings.model_copy(update={"file": base / settings.file})
    if isinstance(settings, HttpSettings):
        tls = settings.tls
        tls = tls.model_copy(update={"ca_bundle": at(tls.ca_bundle),
                                     "client_cert": at(tls.client_cert),
                                     "client_key": at(tls.client_key)})  # fmt: skip
        return settings.model_copy(update={"tls": tls})
    return settings


def _build(
    settings: ConnectorSettings, env: Mapping[str, str], where: tuple[Loc, Marks, str]
) -> Connector:
    loc, marks, filename = where
    if isinstance(settings, MemorySettings):
        return InMemoryConnector.from_file(settings.file)
    if isinstance(settings, HttpSettings):
        password_env = settings.tls.client_key_password_env
        secrets = HttpSecrets(
            token=env[settings.token_env] if settings.token_env else None,
            key_password=env[password_env] if password_env else None,
        )
        try:
            return HttpConnector(settings=settings, secrets=secrets)
        except (OSError, ssl.SSLError) as e:  # (an SSLError is an OSError; its text is safe)
            what = e.strerror or type(e).__name__
            raise ConfigError([problem_at((*loc, "tls"), f"cannot use the TLS files: {what}",
                                          marks, filename, "check the paths and the key's "
                                          "password")]) from None  # fmt: skip
    try:
        return SqlConnector(settings=settings, url=env[settings.url_env])
    except HotlineError as e:
        raise ConfigError([problem_at((*loc, "url_env"), e.message, marks, filename)]) from None
