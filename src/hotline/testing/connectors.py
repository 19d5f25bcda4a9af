"""An in-memory connector for tests, demos and `hotline flow run`.

Its file lists, per operation, records that answer when every `match` parameter equals the
request's; a parameter given as an Argon2 hash (`$argon2id$...`) is compared by verifying
the hash, so a demo file never holds a PIN in clear."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hotline.errors import ConfigError
from hotline.ivr.interpreter import LookupResult
from hotline.records.port import LookupRequest, error
from hotline.yamlfile import compose, read_text, shape_problems

_hasher = PasswordHasher()


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    match: dict[str, str] = Field(min_length=1)
    data: dict[str, str] = Field(default_factory=dict)


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    description: str = ""
    operations: dict[str, list[_Record]]


@dataclass(frozen=True)
class Entry:
    match: Mapping[str, str]
    data: Mapping[str, str]


def _equal(stored: str, given: str) -> bool:
    if stored.startswith("$argon2"):
        try:
            return _hasher.verify(stored, given)
        except (VerificationError, InvalidHashError):
            return False
    return stored == given


class InMemoryConnector:
    """Answers look-ups from a fixed list of records; `broken=True` answers every one with an
    error, as an unreachable record system would."""

    def __init__(self, *, records: Mapping[str, list[Entry]], broken: bool = False) -> None:
        self.records = records
        self.broken = broken

    @classmethod
    def from_file(cls, path: str | Path) -> InMemoryConnector:
        data, marks = compose(read_text(path), str(path))
        try:
            f = _File.model_validate(data)
        except ValidationError as e:
            raise ConfigError(shape_problems(e, marks, str(path))) from None
        return cls(
            records={
                op: [Entry(r.match, r.data) for r in recs] for op, recs in f.operations.items()
            }
        )

    def lookup(self, request: LookupRequest) -> LookupResult:
        operation, params = request.operation, request.params
        if self.broken:
            return error("the record system is unreachable (broken on purpose)")
        if operation not in self.records:
            return error(f"unknown operation {operation[:60]!r}")
        for entry in self.records[operation]:
            if all(k in params and _equal(v, params[k]) for k, v in entry.match.items()):
                return LookupResult("found", dict(entry.data))
        return LookupResult("not_found")
