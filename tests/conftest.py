"""Refuse to test stale compiled modules: mypyc builds .so files beside the sources."""

from __future__ import annotations

from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "hotline"


def pytest_sessionstart(session: pytest.Session) -> None:
    stale = []
    for so in SRC.rglob("*.so"):
        source = so.with_name(so.name.split(".")[0] + ".py")
        if source.exists() and source.stat().st_mtime > so.stat().st_mtime:
            stale.append(str(source.relative_to(SRC.parent)))
    if stale:
        raise pytest.UsageError(
            "compiled modules are older than their sources: "
            + ", ".join(sorted(stale))
            + "\nrebuild with `./dev test` (or `.venv/bin/pip install -e .`)"
        )
