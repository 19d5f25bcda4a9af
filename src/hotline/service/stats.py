"""Live statistics for supervisors, from the event hub, counted by the simulator's own KPI
code (`sim.kpi.KpiCollector`): offered, answered, abandoned, service level and the rest,
per queue, language and caller type, for today (the line's local day) and for the last
30 minutes (the calls whose events fell in that window). What is true right now (who
waits, for how long, agents by state) is read from the line's router when asked."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from hotline.domain.events import CallAnswered, CallArrived, CallCompleted, Event
from hotline.service.hub import Published
from hotline.sim.kpi import KpiCollector

WINDOW = 30 * 60.0  # seconds: "the last 30 minutes"
INTERVAL = 30 * 60.0  # seconds: today's figures by half hour (the wallboard's chart)
ARRIVALS_KEPT = 24 * 3600.0  # a call open longer than a day no longer counts by language


@dataclass
class AgentDay:
    """An agent's own figures for the line's day: calls answered that day, and the calls
    that ended that day with their talk time (a call across midnight counts on both)."""

    answered: int = 0
    completed: int = 0  # calls answered that have ended
    talk_seconds: float = 0.0  # of the completed ones


class LiveStats:
    def __init__(
        self,
        *,
        answer_within: float,
        wrap_up: Mapping[str, float],
        zone: ZoneInfo,
        window: float = WINDOW,
    ) -> None:
        self._new: Callable[[], KpiCollector] = lambda: KpiCollector(
            answer_within=answer_within, wrap_up=wrap_up, interval_seconds=INTERVAL
        )
        self.answer_within = answer_within
        self.zone = zone
        self.window = window
        self.day: date | None = None
        self.today = self._new()
        self.agents: dict[str, AgentDay] = {}  # today's figures of each agent who answered
        self.recent: deque[Event] = deque()  # the core's events of the last `window`
        self.arrivals: dict[str, CallArrived] = {}  # so a recent event knows its language

    def __call__(self, published: Published) -> None:
        e = published.news.event
        if e is None:
            return
        day = datetime.fromtimestamp(e.at, self.zone).date()
        if self.day is None or day > self.day:  # midnight on the line: today starts again
            self.day, self.today, self.agents = day, self._new(), {}
        self.today.see(e)
        if isinstance(e, CallAnswered):
            self.agents.setdefault(e.agent_id, AgentDay()).answered += 1
        elif isinstance(e, CallCompleted):
            mine = self.agents.setdefault(e.agent_id, AgentDay())
            mine.completed += 1
            mine.talk_seconds += e.talk_seconds
        if isinstance(e, CallArrived):
            self.arrivals[e.call_id] = e
        self.recent.append(e)
        self._prune(e.at)

    def _prune(self, now: float) -> None:
        cutoff = now - self.window
        while self.recent and self.recent[0].at < cutoff:
            self.recent.popleft()
        while self.arrivals:  # (kept in the order they came)
            oldest = next(iter(self.arrivals))
            if self.arrivals[oldest].at >= now - ARRIVALS_KEPT:
                break
            del self.arrivals[oldest]

    def agent_today(self, agent_id: str, now: float) -> AgentDay:
        """The agent's figures today on this line (none if today has not had their call)."""
        today = datetime.fromtimestamp(now, self.zone).date()
        return self.agents.get(agent_id, AgentDay()) if self.day == today else AgentDay()

    def report(self, now: float) -> dict[str, Any]:
        self._prune(now)
        cutoff = now - self.window
        recent = self._new()
        for sid in dict.fromkeys(getattr(e, "call_id", "") for e in self.recent):
            arrival = self.arrivals.get(sid)
            if arrival is not None and arrival.at < cutoff:  # arrived before the window
                recent.see(arrival)
        for e in self.recent:
            recent.see(e)
        today = datetime.fromtimestamp(now, self.zone).date()
        figures = _slices(self.today if self.day == today else self._new())
        for i in figures["intervals"]:  # (the line's local time the half hour starts at)
            i["from"] = datetime.fromtimestamp(i["start_seconds"], self.zone).strftime("%H:%M")
        return {
            "answer_within_seconds": self.answer_within,
            "today": figures,
            "last_30_minutes": _slices(recent),
        }


def _slices(kpi: KpiCollector) -> dict[str, Any]:
    return {
        **kpi.overall.as_dict(),
        "intervals": kpi.by_interval(),
        "queues": {k: v.as_dict() for k, v in sorted(kpi.queues.items())},
        "languages": {k: v.as_dict() for k, v in sorted(kpi.languages.items())},
        "caller_types": {k: v.as_dict() for k, v in sorted(kpi.caller_types.items())},
    }


def right_now(
    waiting: list[tuple[str, str, float]],
    agents: list[tuple[str, tuple[str, ...], tuple[str, ...]]],
    now: float,
) -> dict[str, Any]:
    """Who waits (queue, language, since when) and agents' states (state, queues served,
    languages they can be offered; none for an agent who has not signed in): per queue and
    language, the number waiting and the longest wait so far; agents by state, and by state
    per queue they serve and per language they can be offered."""
    by_queue: dict[str, list[float]] = {}
    by_language: dict[str, list[float]] = {}
    for queue, language, since in waiting:
        by_queue.setdefault(queue, []).append(now - since)
        by_language.setdefault(language, []).append(now - since)

    def view(waits: dict[str, list[float]]) -> dict[str, dict[str, float | int]]:
        return {k: {"waiting": len(w), "longest_wait_seconds": round(max(w), 3)}
                for k, w in sorted(waits.items())}  # fmt: skip

    states = Counter(state for state, _, _ in agents)
    per_queue: dict[str, Counter[str]] = {}
    per_language: dict[str, Counter[str]] = {}
    for state, queues, languages in agents:
        for q in queues:
            per_queue.setdefault(q, Counter())[state] += 1
        for language in languages:
            per_language.setdefault(language, Counter())[state] += 1
    all_waits = [w for ws in by_queue.values() for w in ws]
    return {
        "waiting": len(waiting),
        "longest_wait_seconds": round(max(all_waits), 3) if all_waits else 0.0,
        "queues": view(by_queue),
        "languages": view(by_language),
        "agents": dict(sorted(states.items())),
        "agents_by_queue": {q: dict(sorted(c.items())) for q, c in sorted(per_queue.items())},
        "agents_by_language": {k: dict(sorted(c.items())) for k, c in sorted(per_language.items())},
    }
