"""Service KPIs computed from the event stream: overall, per queue, per language, per
caller type and (when asked) per interval of the day."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hotline.domain.agent import AgentState
from hotline.domain.events import (
    CallAbandoned,
    CallAnswered,
    CallArrived,
    CallbackAccepted,
    CallCompleted,
    CallOverflowed,
    CallQueued,
)


@dataclass(slots=True)
class Tally:
    """Counts and sums for one slice of calls (a queue, a language, or everything)."""

    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    overflowed: int = 0
    callbacks: int = 0  # callers who hung up to be called back, keeping their place
    answered_within: int = 0
    wait_answered: float = 0.0
    longest_wait: float = 0.0
    completed: int = 0
    handle: float = 0.0  # talk plus wrap-up of completed calls

    def as_dict(self) -> dict[str, Any]:
        outcomes = self.answered + self.abandoned + self.overflowed
        return {
            "offered": self.offered,
            "answered": self.answered,
            "abandoned": self.abandoned,
            "overflowed": self.overflowed,
            "callbacks": self.callbacks,
            "service_level": _ratio(self.answered_within, outcomes),
            "abandon_rate": _ratio(self.abandoned, outcomes),
            "asa_seconds": _ratio(self.wait_answered, self.answered),
            "aht_seconds": _ratio(self.handle, self.completed),
            "longest_wait_seconds": round(self.longest_wait, 3),
        }


def _answer(t: Tally, waited: float, within: bool) -> None:
    t.answered += 1
    t.answered_within += within
    t.wait_answered += waited
    if waited > t.longest_wait:
        t.longest_wait = waited


def _ratio(a: float, b: float) -> float | None:
    return None if b == 0 else round(a / b, 6)


class KpiCollector:
    """Give it every event (`see`); read `report()` at the end.

    A call counts once overall, for its language, its caller type and the interval in
    which it first queued (first queue entered, final outcome), and once for every queue it
    entered (an overflow is that queue's outcome).
    """

    def __init__(
        self,
        *,
        answer_within: float,
        wrap_up: Mapping[str, float],
        interval_seconds: float | None = None,
    ) -> None:
        self.answer_within = answer_within
        self.wrap_up = dict(wrap_up)
        self.interval = interval_seconds
        self.overall = Tally()
        self.queues: dict[str, Tally] = {}
        self.languages: dict[str, Tally] = {}
        self.caller_types: dict[str, Tally] = {}
        self.intervals: dict[int, Tally] = {}
        # calls not yet finished -> the slices they count in besides overall and queues
        self._home: dict[str, list[Tally]] = {}
        self._entered: set[str] = set()  # calls counted as offered overall

    def see(self, ev: object) -> None:
        """Count an event (one of another kind counts for nothing). A chain of exact type
        tests: compiled, each is a pointer comparison and each handler a direct call."""
        if type(ev) is CallArrived:
            self._arrived(ev)
        elif type(ev) is CallQueued:
            self._queued(ev)
        elif type(ev) is CallAnswered:
            self._answered(ev)
        elif type(ev) is CallCompleted:
            self._completed(ev)
        elif type(ev) is CallAbandoned:
            self._abandoned(ev)
        elif type(ev) is CallOverflowed:
            self._overflowed(ev)
        elif type(ev) is CallbackAccepted:
            self._callback(ev)

    def _arrived(self, ev: CallArrived) -> None:
        self._home[ev.call_id] = [
            self._slice(self.languages, ev.language),
            self._slice(self.caller_types, ev.caller_type),
        ]

    def _queued(self, ev: CallQueued) -> None:
        self._slice(self.queues, ev.queue).offered += 1
        home = self._home.get(ev.call_id)
        if home is not None and ev.call_id not in self._entered:
            self._entered.add(ev.call_id)
            if self.interval is not None:
                k = int(ev.at // self.interval)
                t = self.intervals.get(k)
                if t is None:
                    t = self.intervals[k] = Tally()
                home.append(t)
            self.overall.offered += 1
            for t in home:
                t.offered += 1

    def _answered(self, ev: CallAnswered) -> None:
        within = ev.waited <= self.answer_within
        _answer(self.overall, ev.waited, within)
        home = self._home.get(ev.call_id)
        if home is not None:
            for t in home:
                _answer(t, ev.waited, within)
        if ev.queue is not None:
            _answer(self._slice(self.queues, ev.queue), ev.waited, within)

    def _completed(self, ev: CallCompleted) -> None:
        handle = ev.talk_seconds + self.wrap_up.get(ev.queue, 0.0)
        for t in self._tallies(ev.call_id, ev.queue):
            t.completed += 1
            t.handle += handle
        self._forget(ev.call_id)

    def _abandoned(self, ev: CallAbandoned) -> None:
        for t in self._tallies(ev.call_id, ev.queue):
            t.abandoned += 1
            if ev.waited > t.longest_wait:
                t.longest_wait = ev.waited
        self._forget(ev.call_id)

    def _callback(self, ev: CallbackAccepted) -> None:
        for t in self._tallies(ev.call_id, ev.queue):
            t.callbacks += 1

    def _overflowed(self, ev: CallOverflowed) -> None:
        self._slice(self.queues, ev.from_queue).overflowed += 1
        if ev.fallback is None:
            return
        self.overall.overflowed += 1
        for t in self._home.get(ev.call_id, ()):
            t.overflowed += 1
        self._forget(ev.call_id)

    def _tallies(self, call_id: str, queue: str | None) -> list[Tally]:
        out = [self.overall, *self._home.get(call_id, ())]
        if queue is not None:
            out.append(self._slice(self.queues, queue))
        return out

    def _forget(self, call_id: str) -> None:
        if call_id in self._home:  # (not pop: compiled, no method called through Python)
            del self._home[call_id]
        self._entered.discard(call_id)

    @staticmethod
    def _slice(slices: dict[str, Tally], key: str) -> Tally:
        t = slices.get(key)
        if t is None:
            t = slices[key] = Tally()
        return t

    def report(self, state_seconds: Mapping[AgentState, float]) -> dict[str, Any]:
        busy = sum(
            state_seconds[s] for s in (AgentState.RESERVED, AgentState.ON_CALL, AgentState.WRAP_UP)
        )
        staffed = busy + state_seconds[AgentState.AVAILABLE]
        out = self.overall.as_dict()
        out["answer_within_seconds"] = self.answer_within
        out["occupancy"] = _ratio(busy, staffed)
        out["agent_hours"] = round(staffed / 3600.0, 3)
        out["queues"] = {k: v.as_dict() for k, v in sorted(self.queues.items())}
        out["languages"] = {k: v.as_dict() for k, v in sorted(self.languages.items())}
        out["caller_types"] = {k: v.as_dict() for k, v in sorted(self.caller_types.items())}
        if self.interval is not None:
            out["interval_minutes"] = round(self.interval / 60)
            out["intervals"] = self.by_interval()
        return out

    def by_interval(self) -> list[dict[str, Any]]:
        """The figures of each interval that had calls, in time order (`start_seconds`:
        when it starts, on the clock the events' times are on)."""
        assert self.interval is not None
        return [{"start_seconds": k * self.interval, **v.as_dict()}
                for k, v in sorted(self.intervals.items())]  # fmt: skip
