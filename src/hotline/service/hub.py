"""The in-process event hub: each command's events, once its unit of work is handed to
the writer, go to every subscriber in order, each numbered once (`seq`, from 1 at
start-up, over all the server's lines; each names its line). Subscribers are the live
statistics and the supervisors' event sockets; a subscriber that fails is logged and
dropped, never the publisher."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from hotline.domain.events import Event

log = logging.getLogger("hotline.hub")


@dataclass(frozen=True, slots=True)
class News:
    """An event as the hub publishes it (after its command's commit): `event` is the
    core's own, when it is one (the KPI code reads those)."""

    at: float
    kind: str
    call_sid: str | None
    data: Mapping[str, object]
    event: Event | None = None
    line: str = ""  # the line's name


@dataclass(frozen=True, slots=True)
class Published:
    seq: int
    news: News


Subscriber = Callable[[Published], None]


class EventHub:
    def __init__(self) -> None:
        self._subscribers: dict[int, Subscriber] = {}
        self._next_id = 0
        self.seq = 0  # the last number given

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Hear every event from now on; returns the call that stops it."""
        self._next_id += 1
        key = self._next_id
        self._subscribers[key] = subscriber
        return lambda: self._subscribers.pop(key, None) and None

    def __len__(self) -> int:
        return len(self._subscribers)

    def publish(self, news: Iterable[News]) -> None:
        for item in news:
            self.seq += 1
            published = Published(self.seq, item)
            for key, subscriber in list(self._subscribers.items()):
                try:
                    subscriber(published)
                except Exception:  # one broken subscriber must not silence the others
                    log.exception("an event subscriber failed and was dropped")
                    self._subscribers.pop(key, None)
