"""Several lines on one platform, sharing agents: one switchboard per line, and one rule
that keeps an agent from being offered two calls at once.

An agent on several lines is logged in to each line's switchboard. Whatever their state
becomes on one line is mirrored to the others, except that while they are engaged on one
(ringing, on a call, in wrap-up) they are "not ready: on another line" everywhere else.
Their own requests (ready, not ready, log out) go to the line they are engaged on, or to
their first line, and reach the others by the same mirror. Every line's timers fire in
time order across lines, and each outcome is mirrored before anything else happens, so at
most one line ever has the agent engaged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, Generic, TypeVar, cast

from hotline.domain.agent import AgentState
from hotline.errors import UnknownAgent
from hotline.switchboard import commands as c
from hotline.switchboard.board import Outcome, Switchboard
from hotline.switchboard.commands import AgentStatus, Command

ELSEWHERE: Final = "on-another-line"  # the reason an agent engaged on one line has elsewhere
ENGAGED: Final = (AgentState.RESERVED.value, AgentState.ON_CALL.value, AgentState.WRAP_UP.value)
NOT_READY: Final = AgentState.NOT_READY.value
AVAILABLE: Final = AgentState.AVAILABLE.value
TICK: Final = c.Tick()

R = TypeVar("R")
Step = tuple[str, Outcome[Any]]  # a line, and what one command came to on it


class Handled(Generic[R]):
    """A command's result, and every line's outcomes in the order they happened."""

    def __init__(self, result: R, steps: list[Step]) -> None:
        self.result: Final = result
        self.steps: Final = steps


class Floor:
    def __init__(self, boards: Mapping[str, Switchboard]) -> None:
        """`boards`: the lines' switchboards by line name (in the order agents' requests
        prefer them); an agent is on every line whose configuration lists them."""
        self.boards = dict(boards)
        self.lines_of: dict[str, list[str]] = {}
        self._index()

    def _index(self) -> None:
        self.lines_of.clear()
        for name, board in self.boards.items():
            for agent_id in board.line.agents:
                self.lines_of.setdefault(agent_id, []).append(name)

    def next_timer(self) -> float | None:
        times = [t for b in self.boards.values() if (t := b.next_timer()) is not None]
        return min(times) if times else None

    def handle(self, line: str, command: Command[R], now: float) -> Handled[R]:
        """Carry out `command` on `line` (an agent's own request: on their line, see the
        module's docstring) at `now`, after the timers that fell due before it; the steps
        are every line's outcomes in the order they happened, the command's among them."""
        steps: list[Step] = []
        self._catch_up(now, steps)
        if isinstance(command, c.Login | c.SetReady | c.Logout):
            own = self._agent_request(command, now, steps)
        else:
            own = self._step(line, command, now, steps)
            if isinstance(command, c.Reconfigure):  # agents may have joined or left lines
                self._index()
        return Handled(cast(R, own.result), steps)

    def agent_state(self, agent_id: str) -> AgentStatus:
        """The agent's state on the line they are engaged on, or on their first line."""
        return self.boards[self._home(agent_id)].agent_state(agent_id)

    # -- the mirror

    def _catch_up(self, now: float, steps: list[Step]) -> None:
        while True:
            due = [(t, name) for name, b in self.boards.items()
                   if (t := b.next_timer()) is not None and t <= now]  # fmt: skip
            if not due:
                return
            t, name = min(due)
            self._step(name, TICK, t, steps)

    def _step(
        self, line: str, command: Command[Any], now: float, steps: list[Step]
    ) -> Outcome[Any]:
        outcome = self.boards[line].handle(command, now)
        steps.append((line, outcome))
        # (an offer, an answer, a withdrawal or a call's end changes an agent's state too)
        touched = {a for e in outcome.events if (a := getattr(e, "agent_id", None))}
        for agent_id in sorted(touched):
            if len(self.lines_of.get(agent_id, ())) > 1:
                self._mirror(agent_id, line, now, steps)
        return outcome

    def _mirror(self, agent_id: str, source: str, now: float, steps: list[Step]) -> None:
        there = self.boards[source].agent_state(agent_id)
        state, reason = there["state"], there.get("reason")
        for other in self.lines_of[agent_id]:
            if other == source:
                continue
            here = self.boards[other].agent_state(agent_id)
            mine = here["state"]
            if state in ENGAGED:
                if mine == AVAILABLE:
                    self._step(other, c.SetReady(agent_id, False, ELSEWHERE), now, steps)
            elif state == AVAILABLE:
                if mine == NOT_READY:
                    self._step(other, c.SetReady(agent_id, True), now, steps)
            elif (state == NOT_READY and reason != ELSEWHERE) and (
                mine == AVAILABLE or (mine == NOT_READY and here.get("reason") != reason)
            ):
                self._step(other, c.SetReady(agent_id, False, reason or ""), now, steps)

    # -- the agent's own requests

    def _lines(self, agent_id: str) -> Sequence[str]:
        lines = self.lines_of.get(agent_id)
        if not lines:
            raise UnknownAgent(f"no agent {agent_id!r} on any line")
        return lines

    def _home(self, agent_id: str) -> str:
        lines = self._lines(agent_id)
        for name in lines:
            if self.boards[name].agent_state(agent_id)["state"] in ENGAGED:
                return name
        return lines[0]

    def _agent_request(
        self, command: c.Login | c.SetReady | c.Logout, now: float, steps: list[Step]
    ) -> Outcome[Any]:
        agent_id = command.agent_id
        lines = self._lines(agent_id)
        home = self._home(agent_id)
        if isinstance(command, c.SetReady):
            return self._step(home, command, now, steps)
        if isinstance(command, c.Logout):
            own = self._step(home, command, now, steps)
            for other in lines:
                if other != home and self.boards[other].agent_state(agent_id)["state"] != "offline":
                    self._step(other, c.Logout(agent_id), now, steps)
            return own
        # logged in everywhere not ready first, then ready (or not) on their first line
        outcomes = {name: self._step(name, c.Login(agent_id, ready=False), now, steps)
                    for name in lines}  # fmt: skip
        if command.ready:
            return self._step(home, c.SetReady(agent_id, True), now, steps)
        return outcomes[home]
