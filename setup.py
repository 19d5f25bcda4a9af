"""Build: the pure core's hot modules are compiled with mypyc (about 2x faster simulation).

Everything is ordinary, strictly typed Python; mypyc turns the listed modules into C
extensions at install time. Set HOTLINE_PURE_PYTHON=1 to install without compiling.
Metadata lives in pyproject.toml.
"""

import os

from setuptools import setup

COMPILED = [
    "src/hotline/errors.py",
    "src/hotline/domain/agent.py",
    "src/hotline/domain/call.py",
    "src/hotline/domain/clock.py",
    "src/hotline/domain/events.py",
    "src/hotline/domain/queue.py",
    "src/hotline/domain/record.py",
    "src/hotline/domain/skills.py",
    "src/hotline/routing/checks.py",
    "src/hotline/routing/engine.py",
    "src/hotline/routing/fullscan.py",
    "src/hotline/routing/selection.py",
    "src/hotline/sim/driver.py",
    "src/hotline/sim/kpi.py",
    "src/hotline/switchboard/board.py",
    "src/hotline/switchboard/commands.py",
    "src/hotline/switchboard/effects.py",
    "src/hotline/switchboard/records.py",
    # (events subclass the compiled Record, which requires compiling them too)
    "src/hotline/switchboard/events.py",
]

if os.environ.get("HOTLINE_PURE_PYTHON"):
    setup()
else:
    from mypyc.build import mypycify

    setup(ext_modules=mypycify(COMPILED, opt_level="3"))
