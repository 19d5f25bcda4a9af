"""Refuse to test stale compiled modules: mypyc builds .so files beside the sources."""

from __future__ import annotations

import sys
from collections.abc import Iterator
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


@pytest.fixture(autouse=True)
def _live_loops_stopped() -> Iterator[None]:
    """The event loops of the live lines a test made (tests/integration/live_fixtures.py)
    stop when it ends."""
    yield
    fixtures = sys.modules.get("tests.integration.live_fixtures")
    if fixtures is not None:
        fixtures.stop_loops()
