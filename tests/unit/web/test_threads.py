"""Threads kept apart for one kind of work: at most their number at once, and closing
them drops nothing (a line's carrier requests asked before it stopped still go out)."""

from __future__ import annotations

import asyncio
import threading

from hotline.web.threads import Threads


def test_work_runs_in_the_threads_named_and_no_more_at_once() -> None:
    threads = Threads(2, "kept-apart")
    lock = threading.Lock()
    running, most, names = [0], [0], set()
    gate = threading.Barrier(2, timeout=10)  # two at once, never a third

    def job() -> None:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
            names.add(threading.current_thread().name)
        gate.wait()
        with lock:
            running[0] -= 1

    async def run() -> None:
        await asyncio.gather(*(threads.run(job) for _ in range(6)))

    asyncio.run(run())
    threads.close()
    assert most[0] == 2
    assert all(name.startswith("kept-apart") for name in names)


def test_closing_drops_no_work_queued_and_work_asked_after_still_runs() -> None:
    threads = Threads(1, "kept-apart")
    release = threading.Event()
    done: list[str] = []

    def first() -> None:
        assert release.wait(10)
        done.append("first")

    async def run() -> None:
        under_way = asyncio.ensure_future(threads.run(first))
        queued = asyncio.ensure_future(threads.run(done.append, "queued"))
        await asyncio.sleep(0)  # (one turn of the loop: both are handed to the pool)
        threads.close()
        release.set()
        await asyncio.gather(under_way, queued)
        await threads.run(done.append, "after")

    asyncio.run(run())
    threads.close()
    assert done == ["first", "queued", "after"]
