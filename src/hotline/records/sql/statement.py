"""What a configured statement may be: one SELECT, nothing that writes, locks or runs more.

The check is deliberately narrow (it refuses some harmless SQL rather than parse every
dialect): no `;`, no comments, no WITH, no INTO, no locking clause, none of the words that
change data or a session, and bind parameters exactly those declared. The connection is
read-only as well, so a statement the check lets through still cannot write."""

from __future__ import annotations

import re

_LITERALS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")
_BIND = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_WORD = re.compile(r"[A-Za-z_]+")
REFUSED_WORDS = frozenset(
    [
        "insert",
        "update",
        "delete",
        "merge",
        "upsert",
        "replace",
        "truncate",
        "drop",
        "create",
        "alter",
        "grant",
        "revoke",
        "attach",
        "detach",
        "pragma",
        "vacuum",
        "reindex",
        "analyze",
        "copy",
        "call",
        "do",
        "exec",
        "execute",
        "set",
        "reset",
        "lock",
        "into",
        "for",
        "with",
        "begin",
        "commit",
        "rollback",
        "savepoint",
        "release",
        "listen",
        "notify",
        "load",
        "import",
    ]
)


def statement_problem(sql: str, declared: list[str]) -> str | None:
    """Why `sql` is not a single SELECT using exactly the `declared` parameters, or None."""
    text = _LITERALS.sub("''", sql)
    if "$" in text:  # PostgreSQL's $$dollar-quoted$$ strings would hide words
        return "has a $ (dollar quoting is not allowed; write plain 'quoted' text)"
    if "--" in text or "/*" in text:
        return "has a comment (-- or /*); remove it"
    if ";" in text:
        return "has a ; (one statement only, with no ; at its end)"
    words = [w.lower() for w in _WORD.findall(_BIND.sub(" ", text))]
    if not words or words[0] != "select":
        return "is not a SELECT"
    refused = sorted({w for w in words if w in REFUSED_WORDS})
    if refused:
        return f"uses {', '.join(w.upper() for w in refused)} (only a plain SELECT is allowed)"
    used = set(_BIND.findall(text))
    if used != set(declared):
        missing = sorted(set(declared) - used)
        extra = sorted(used - set(declared))
        parts = [f"declares :{m} but does not use it" for m in missing]
        parts += [f"uses :{e} but `params` does not declare it" for e in extra]
        return "; ".join(parts)
    return None
