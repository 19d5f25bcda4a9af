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
    """At most `size` threads named `name`, made as work needs them, until `close`."""

    def __init__(self, size: int, name: str) -> None:
        self.size, self.name = size, name
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self.closed = False

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)` in one of these threads, waited for off the event loop;
        RuntimeError once they are closed."""
        if self.closed:
            raise RuntimeError(f"the {self.name} threads are closed")
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(self.size, self.name)
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, functools.partial(fn, *args, **kwargs)
        )

    def close(self) -> None:
        """No more work: what is under way finishes, what waits for a thread is dropped
        (its `run` is cancelled), and the threads end."""
        self.closed = True
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
