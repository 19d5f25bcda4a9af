"""Threads kept apart for one kind of blocking work: work that stalls holds its own
threads, never the event loop's shared ones (which the sockets' token checks, the store's
reads and the configuration's reloads wait for)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class Threads:
    """At most `size` threads named `name`, made as work needs them; `close` ends them as
    their work is done, none cut short and none dropped (work asked after it gets threads
    again: a line's carrier requests asked before it stopped still go out, in order, for
    the store holds them as done)."""

    def __init__(self, size: int, name: str) -> None:
        self.size, self.name = size, name
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)` in one of these threads, waited for off the event loop."""
        if self._pool is None:  # (made at the first, ended by `close`; made again after)
            self._pool = concurrent.futures.ThreadPoolExecutor(self.size, self.name)
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, functools.partial(fn, *args, **kwargs)
        )

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None
