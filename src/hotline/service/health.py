"""Whether the store's writes are landing, as `/healthz` reports it and the log tells it.

An outage is logged once when it starts (with the database's own reason), at most every
`REPEAT` seconds while it lasts, and once when it ends; a write the database refuses for
what it is (it can never succeed) is logged and set aside so the writes after it land; a
write submitted after the line stopped is logged and counted as lost."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

log = logging.getLogger("hotline.store")
REPEAT = 30.0  # seconds between reminders while an outage lasts
STALLED = 30.0  # writes waiting this long make /healthz unhealthy
RETRY_FIRST, RETRY_MAX = 0.5, 5.0  # seconds between tries of a down store (doubling)
LOST_NAMED = 20  # writes named in one report of writes lost (the rest counted)


class Throttle:
    """Logs the first of a run of like messages at once, then at most every `every`
    seconds with the count of those held back."""

    def __init__(self, *, logger: logging.Logger, every: float, wall: Callable[[], float]):
        self._log, self._every, self._wall = logger, every, wall
        self._last: float | None = None
        self._held = 0

    def __call__(self, level: int, message: str, *args: object) -> None:
        now = self._wall()
        if self._last is not None and now - self._last < self._every:
            self._held += 1
            return
        if self._held:
            message += f" ({self._held} more like it since the last report)"
        self._log.log(level, message, *args)
        self._last, self._held = now, 0


@dataclass
class Snapshot:
    waiting: int
    waiting_seconds: float
    set_aside: int
    lost: int  # writes submitted after the line stopped: never kept
    last_error: str | None
    healthy: bool


class WriteHealth:
    def __init__(self, *, wall: Callable[[], float]) -> None:
        self._wall = wall
        self.down_since: float | None = None
        self.waiting_since: float | None = None
        self.last_error: str | None = None
        self.set_aside = 0
        self.lost = 0
        self.retry_at = 0.0
        self._delay = RETRY_FIRST
        self._landed_while_down = 0  # writes committed since the store went down
        self._reminder = Throttle(logger=log, every=REPEAT, wall=wall)

    def buffered(self) -> None:
        """A write is waiting (the first one starts the clock)."""
        if self.waiting_since is None:
            self.waiting_since = self._wall()

    def may_try(self) -> bool:
        """False while a down store is being left alone until its next retry."""
        return self.down_since is None or self._wall() >= self.retry_at

    def failed(self, reason: str, waiting: int) -> None:
        now = self._wall()
        self.last_error = reason
        if self.down_since is None:
            self.down_since = now
            self._delay = RETRY_FIRST
            log.error(
                "store unavailable: %s; %d writes wait in order, callers are still served",
                reason, waiting,
            )  # fmt: skip
        else:
            self._delay = min(self._delay * 2, RETRY_MAX)
            self._reminder(
                logging.ERROR,
                "store still unavailable after %.0f s, %d writes waiting: %s",
                now - self.down_since, waiting, reason,
            )  # fmt: skip
        self.retry_at = now + self._delay

    def refused(self, what: str, reason: str) -> None:
        self.set_aside += 1
        self.last_error = reason
        log.error("write set aside, the database refused it (it can never succeed): %s: %s",
                  what, reason)  # fmt: skip

    def lost_after_stop(self, writes: Sequence[str]) -> None:
        """Writes submitted after the line stopped (its writer closed): not in the store,
        and nothing will put them there."""
        self.lost += len(writes)
        shown = ", ".join(writes[:LOST_NAMED])
        more = f" and {len(writes) - LOST_NAMED} more" if len(writes) > LOST_NAMED else ""
        log.error("%d writes came after the line stopped: they are lost, not in the store "
                  "(the command was refused): %s%s", len(writes), shown, more)  # fmt: skip

    def committed(self, count: int) -> None:
        """`count` writes are in the store (counted for the outage's end, if one is on:
        those of an attempt the store failed part way through included)."""
        if self.down_since is not None:
            self._landed_while_down += count

    def landed(self) -> None:
        """Every waiting write is in the store."""
        if self.down_since is not None:
            log.warning(
                "store available again after %.0f s; %d waiting writes landed",
                self._wall() - self.down_since, self._landed_while_down,
            )  # fmt: skip
        self.down_since = None
        self.waiting_since = None
        self._landed_while_down = 0

    def snapshot(self, waiting: int) -> Snapshot:
        since = self.waiting_since if waiting else None
        seconds = 0.0 if since is None else max(0.0, self._wall() - since)
        return Snapshot(waiting, round(seconds, 1), self.set_aside, self.lost,
                        self.last_error, seconds < STALLED)  # fmt: skip
