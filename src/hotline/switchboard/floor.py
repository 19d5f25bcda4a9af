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
from hotline.errors import InvalidTransition, UnknownAgent
from hotline.switchboard import commands as c
from hotline.switchboard.board import Outcome, Switchboard, offline
from hotline.switchboard.commands import AgentStatus, Command

ELSEWHERE: Final = "on-another-line"  # the reason an agent engaged on one line has elsewhere
ENGAGED: Final = (AgentState.RESERVED.value, AgentState.ON_CALL.value, AgentState.WRAP_UP.value)
NOT_READY: Final = AgentState.NOT_READY.value
OFFLINE: Final = AgentState.OFFLINE.value
AVAILABLE: Final = AgentState.AVAILABLE.value
TICK: Final = c.Tick()

R = TypeVar("R")
Step = tuple[str, Outcome[Any]]  # a line, and what one command came to on it
# an agent's requests that go to the line they are engaged on (or their first)
OnHomeLine = (
    c.SetReady | c.WrapUp | c.AfterWrapUp | c.HoldCall | c.HangUp | c.Transfer
    | c.FinishTransfer | c.AddInterpreter
)  # fmt: skip
ON_HOME_LINE: Final = (c.SetReady, c.WrapUp, c.AfterWrapUp, c.HoldCall, c.HangUp,
                       c.Transfer, c.FinishTransfer, c.AddInterpreter)  # fmt: skip


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
        self._untold: list[Step] = []
        self._index()

    def _index(self) -> None:
        """Each agent's lines: those whose configuration lists them, and those they are
        still logged in to (a new configuration left them out: they finish and log out)."""
        self.lines_of.clear()
        for name, board in self.boards.items():
            for agent_id in dict.fromkeys(
                [*board.line.agents, *(v.agent_id for v in board.agents())]
            ):
                self.lines_of.setdefault(agent_id, []).append(name)

    def add(self, name: str, board: Switchboard) -> None:
        """A line served from now (its agents logged in elsewhere join it at the next
        `Reconfigure` of it, as when a line is given to them)."""
        self.boards[name] = board
        self._index()

    def _index_agent(self, agent_id: str) -> None:
        """One agent's lines, as `_index` finds them (an agent's request changes no one
        else's: indexing them all at every request made logging in N agents take N^2)."""
        lines = [name for name, board in self.boards.items()
                 if agent_id in board.line.agents or _logged_in(board, agent_id)]  # fmt: skip
        if lines:
            self.lines_of[agent_id] = lines
        else:
            self.lines_of.pop(agent_id, None)

    def next_timer(self) -> float | None:
        times = [t for b in self.boards.values() if (t := b.next_timer()) is not None]
        return min(times) if times else None

    def handle(self, line: str, command: Command[R], now: float) -> Handled[R]:
        """Carry out `command` on `line` (an agent's own request: on their line, see the
        module's docstring) at `now`, after the timers that fell due before it; the steps
        are every line's outcomes in the order they happened, the command's among them."""
        steps: list[Step] = []
        try:
            self._catch_up(now, steps)
            if isinstance(command, (c.Login, c.Logout, *ON_HOME_LINE)):
                result = self._agent_request(command, now, steps)
            else:
                result = self._step(line, command, now, steps).result
                if isinstance(command, c.Reconfigure):  # agents may have joined or left lines
                    self._index()
                    self._join_new_lines(now, steps)
        except Exception:  # refused: what happened before the refusal still happened
            self._untold.extend(steps)
            raise
        return Handled(cast(R, result), steps)

    def take_untold(self) -> list[Step]:
        """The steps taken before a command was refused (timers that fired first, the
        mirror of what it did on one line before another refused it): a driver applies
        them as it does a command's, in order, before anything else."""
        untold, self._untold = self._untold, []
        return untold

    def agent_state(self, agent_id: str) -> AgentStatus:
        """The agent's state on the line they are engaged on, or on their first line."""
        return self.boards[self.home(agent_id)].agent_state(agent_id)

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
        self,
        line: str,
        command: Command[Any],
        now: float,
        steps: list[Step],
        *,
        mirror: bool = True,
        before_due: bool = False,
    ) -> Outcome[Any]:
        outcome = self.boards[line].handle(command, now, before_due=before_due)
        steps.append((line, outcome))
        if not mirror:
            return outcome
        touched = agents_of(outcome)
        for agent_id in sorted(touched):
            if len(self.lines_of.get(agent_id, ())) > 1:
                self._mirror(agent_id, line, now, steps)
        return outcome

    def _state(self, line: str, agent_id: str) -> AgentStatus:
        try:
            return self.boards[line].agent_state(agent_id)
        except UnknownAgent:  # left out of the line's configuration, and logged out
            return offline(agent_id)

    def _engaged(self, agent_id: str) -> str | None:
        """The line the agent is engaged on (there is at most one)."""
        return next((name for name in self.lines_of.get(agent_id, ())
                     if self._state(name, agent_id)["state"] in ENGAGED), None)  # fmt: skip

    def _mirror(self, agent_id: str, source: str, now: float, steps: list[Step]) -> None:
        """The agent's state on `source` reaches their other lines, one at a time, each
        decided from the floor as it is then (a step may offer them a call on that line)."""
        for other in self.lines_of[agent_id]:
            if other == source:
                continue
            engaged = self._engaged(agent_id)
            if engaged not in (None, other) and self._state(other, agent_id)["state"] == AVAILABLE:
                # not ready here before this line's timers at this very time fire: one of
                # them (an offer withdrawn, put to the next agent) could offer them a call
                change = c.SetReady(agent_id, False, ELSEWHERE)
                self._step(other, change, now, steps, before_due=True)
            due = self.boards[other].next_timer()
            if due is not None and due <= now:  # then its timers at this very time fire
                self._step(other, TICK, now, steps)
            here = self._state(other, agent_id)
            mine = here["state"]
            if mine == OFFLINE:
                continue  # (mirrored states never log anyone in or out)
            engaged = self._engaged(agent_id)
            if engaged is not None:
                if engaged != other and mine == AVAILABLE:
                    self._step(other, c.SetReady(agent_id, False, ELSEWHERE), now, steps)
                continue
            there = self._state(source, agent_id)
            state, reason = there["state"], there.get("reason")
            if state == AVAILABLE:
                if mine == NOT_READY:
                    self._step(other, c.SetReady(agent_id, True), now, steps)
            elif (state == NOT_READY and reason != ELSEWHERE) and (
                mine == AVAILABLE or (mine == NOT_READY and here.get("reason") != reason)
            ):
                self._step(other, c.SetReady(agent_id, False, reason or ""), now, steps)

    def _join_new_lines(self, now: float, steps: list[Step]) -> None:
        """An agent logged in who was given another line is logged in to it too, in the
        state they have (not ready until their call ends, if they are on one)."""
        for agent_id, lines in list(self.lines_of.items()):
            on = [n for n in lines if self._state(n, agent_id)["state"] != OFFLINE]
            new = [n for n in lines if n not in on and agent_id in self.boards[n].line.agents]
            if on and new and not any(self.boards[n].leaving(agent_id) for n in on):
                home = self.home(agent_id)  # (its state, not the login's, is theirs)
                for name in new:
                    self._step(name, c.Login(agent_id, ready=False), now, steps, mirror=False)
                self._mirror(agent_id, home, now, steps)

    # -- the agent's own requests

    def _lines(self, agent_id: str) -> Sequence[str]:
        lines = self.lines_of.get(agent_id)
        if not lines:
            raise UnknownAgent(f"no agent {agent_id!r} on any line")
        return lines

    def home(self, agent_id: str) -> str:
        """The line an agent's request goes to: the one they are engaged on, else the
        first they are logged in to, else their first line."""
        lines = self._lines(agent_id)
        engaged = self._engaged(agent_id)
        if engaged is not None:
            return engaged
        return next((n for n in lines if self._state(n, agent_id)["state"] != OFFLINE), lines[0])

    def _agent_request(
        self, command: c.Login | c.Logout | OnHomeLine, now: float, steps: list[Step]
    ) -> AgentStatus:
        agent_id = command.agent_id
        self._index_agent(agent_id)  # (a line that left them out no longer holds them
        # once logged out)
        lines = self._lines(agent_id)
        home = self.home(agent_id)
        if isinstance(command, ON_HOME_LINE):
            return cast(AgentStatus, self._step(home, command, now, steps).result)
        if isinstance(command, c.Logout):
            own = self._step(home, command, now, steps).result
            for other in lines:
                if other != home and self._state(other, agent_id)["state"] != OFFLINE:
                    self._step(other, c.Logout(agent_id), now, steps)
            return cast(AgentStatus, own)
        return self._login(command, lines, now, steps)

    def _login(
        self, command: c.Login, lines: Sequence[str], now: float, steps: list[Step]
    ) -> AgentStatus:
        """Logged in to each of their lines not ready (a pending log-out is called off),
        then ready on their home line if they asked and are not on a call: the mirror
        does the rest. Refused whole if they are logged in everywhere already."""
        agent_id = command.agent_id
        todo = [n for n in lines if agent_id in self.boards[n].line.agents
                and (self._state(n, agent_id)["state"] == OFFLINE
                     or self.boards[n].leaving(agent_id))]  # fmt: skip
        if not todo:
            raise InvalidTransition(f"agent {agent_id} is already logged in")
        for name in todo:
            self._step(name, c.Login(agent_id, ready=False), now, steps)
        home = self.home(agent_id)
        if command.ready and self._state(home, agent_id)["state"] not in ENGAGED:
            self._step(home, c.SetReady(agent_id, True), now, steps)
        return self._state(home, agent_id)


def _logged_in(board: Switchboard, agent_id: str) -> bool:
    try:
        board.router.agent(agent_id)
    except UnknownAgent:
        return False
    return True


def agents_of(outcome: Outcome[Any]) -> set[str]:
    """The agents an outcome's events name: those whose state it may have changed (an
    offer, an answer, a withdrawal or a call's end changes an agent's state too)."""
    return {a for e in outcome.events if (a := getattr(e, "agent_id", None))}
