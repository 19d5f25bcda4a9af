"""What an SQL connector is told in `connectors.yaml`: the environment variable holding the
database URL, time limits, and per operation one fixed SELECT with its named parameters."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hotline.records.http.settings import PARAM, env_name
from hotline.records.sql.statement import statement_problem


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SqlOperation(_Strict):
    """`sql`: one SELECT naming its parameters as `:case_id`; `params`: those names. One row
    is the record (its columns the fields), none is not_found, more is an error."""

    sql: str = Field(min_length=1, max_length=10_000)
    params: list[str] = Field(default_factory=list)

    @field_validator("params")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not PARAM.fullmatch(name):
                raise ValueError(f"{name[:40]!r} is not a parameter's name like case_id")
        return value

    @model_validator(mode="after")
    def _one_select(self) -> SqlOperation:
        problem = statement_problem(self.sql, self.params)
        if problem is not None:
            raise ValueError(f"the statement {problem}")
        return self


class SqlSettings(_Strict):
    kind: Literal["sql"]
    description: str = ""
    url_env: str  # the database URL (it may hold a password): sqlite:///... or postgresql://...
    connect_timeout: float = Field(default=3.0, gt=0, le=60)
    statement_timeout: float = Field(default=5.0, gt=0, le=60)
    operations: dict[str, SqlOperation] = Field(min_length=1)

    @field_validator("url_env")
    @classmethod
    def _env(cls, value: str) -> str:
        env_name(value)
        return value
