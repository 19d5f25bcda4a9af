"""An answer checked against the schema declared in `connectors.yaml`, and turned into the
record's fields as text (what a `LookupResult` carries)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from hotline.records.http.settings import FieldSpec


class SchemaViolation(Exception):
    """The answer does not fit the schema (the message names the field, never its value)."""


def record_fields(
    answer: Any, fields: Mapping[str, FieldSpec], *, refuse_unknown: bool
) -> dict[str, str]:
    if not isinstance(answer, dict):
        raise SchemaViolation(f"the answer is a JSON {_kind(answer)}, not an object")
    if refuse_unknown:
        unknown = sorted(str(k) for k in answer if k not in fields)
        if unknown:
            shown = ", ".join(repr(k[:40]) for k in unknown[:5])
            raise SchemaViolation(f"the answer has fields the schema does not declare: {shown}")
    out: dict[str, str] = {}
    for name, spec in fields.items():
        value = answer.get(name)
        if value is None:
            if spec.required:
                missing = "is null" if name in answer else "is missing"
                raise SchemaViolation(f"the required field {name!r} {missing}")
            continue
        out[name] = _text(name, value, spec)
    return out


def _text(name: str, value: Any, spec: FieldSpec) -> str:
    kind = spec.type
    if kind == "boolean" and isinstance(value, bool):
        return "true" if value else "false"
    if not isinstance(value, bool):  # (a JSON true is no number)
        if kind == "string" and isinstance(value, str):
            return value
        if kind == "integer" and isinstance(value, int):
            return str(value)
        if kind == "number" and isinstance(value, int | float):
            return str(value)
        if kind == "date" and isinstance(value, str) and len(value) == 10:
            try:
                return date.fromisoformat(value).isoformat()
            except ValueError:
                pass
    raise SchemaViolation(f"the field {name!r} should be {_article(kind)}, not a JSON "
                          f"{_kind(value)}")  # fmt: skip


def _article(kind: str) -> str:
    return {"integer": "an integer", "date": "a date (YYYY-MM-DD)"}.get(kind, f"a {kind}")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"
