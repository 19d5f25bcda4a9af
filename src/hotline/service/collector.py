"""How a long-running server process sets CPython's cyclic garbage collector.

A webhook makes many short-lived objects (the request, its form, events, TwiML) and next to
no reference cycles; they are freed by reference counting as soon as it is answered. The
cyclic collector, left at its defaults, traces the young objects every 700 allocations, and
those alive at that moment (a request awaiting the line's lock, the store) are promoted to
the older generations, whose collection walks every object the process holds: thousands of
agents' sockets and calls in progress, plus everything imported at start-up. Under load
that full walk is what stalls the event loop for hundreds of milliseconds
(docs/benchmarks.md, "What limits it").

So, once the server is built, the objects made so far (modules, the line's configuration,
the app) are frozen: they live as long as the process and are never traced again. The
young generation is collected every YOUNG_ALLOCATIONS allocations, so that fewer objects
are promoted while still in use. Cycles are still collected; the older generations keep
CPython's thresholds.
"""

from __future__ import annotations

import gc
from typing import Final

YOUNG_ALLOCATIONS: Final = 20_000  # allocations between young collections (CPython: 700)


def tune_for_serving() -> None:
    """Freeze what start-up made and collect the young generation less often (see above).
    Call once per process, after the app is built and before it serves."""
    gc.collect()  # (what start-up left as garbage is not frozen with the rest)
    gc.freeze()
    gc.set_threshold(YOUNG_ALLOCATIONS, *gc.get_threshold()[1:])
