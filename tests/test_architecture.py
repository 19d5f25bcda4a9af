"""DESIGN.md's import rule: the core (domain, routing, ivr, switchboard, sim, wfm) imports
no adapter, no web/database/HTTP library, no clock module, no global random generator,
and never reads the wall clock (datetime may parse and format dates, not ask for `now`)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "hotline"
CORE = ("domain", "routing", "ivr", "switchboard", "sim", "wfm")
ADAPTERS = ("web", "store", "telephony", "records", "service", "cli")
FRAMEWORKS = ("sqlalchemy", "fastapi", "starlette", "httpx", "twilio")
FORBIDDEN_LIBS = (*FRAMEWORKS, "time", "random", "asyncio")
CLOCK_READS = ("now", "utcnow", "today")


def imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.append(node.module)
    return out


def clock_reads(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    return [
        f"line {node.lineno}: {node.func.value.id}.{node.func.attr}()"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in CLOCK_READS
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id in ("datetime", "date")
    ]


def core_files() -> list[Path]:
    return [f for d in CORE if (SRC / d).is_dir() for f in sorted((SRC / d).rglob("*.py"))]


def test_core_exists():
    assert len(core_files()) >= 10


def test_core_imports_no_adapter_no_clock_no_global_rng():
    breaches = []
    for f in core_files():
        for name in imports(f):
            top = name.split(".")[0]
            if top in FORBIDDEN_LIBS or any(name.startswith(f"hotline.{a}") for a in ADAPTERS):
                breaches.append(f"{f.relative_to(SRC)} imports {name}")
        breaches += [f"{f.relative_to(SRC)} reads the clock, {r}" for r in clock_reads(f)]
    assert breaches == []


def test_checker_would_catch_a_breach(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import time\nfrom hotline.store.models import X\nt = datetime.now()\n")
    assert imports(bad) == ["time", "hotline.store.models"]
    assert clock_reads(bad) == ["line 3: datetime.now()"]
