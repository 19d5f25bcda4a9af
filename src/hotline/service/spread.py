"""How the lines spread over the nodes of one store (`hotline serve --node`). An agent
works on one floor, so lines that share agents are led by one node: the unit a node leads
is a group of lines connected by shared agents (`groups`). A request goes to the node that
leads its line (`Placement`): a carrier webhook its call's, a person's request the line of
the agent or call it is about."""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote

from hotline.errors import HotlineError, StoreError
from hotline.service.live import line_setup
from hotline.store.accounts import AccountStore
from hotline.store.repository import Store, token_digest

log = logging.getLogger("hotline.node")
# a person's requests that are no line's (besides the pages): any node that serves a line
# serves them, from the store
ANY_LINES = ("/api/session", "/api/banner", "/api/audit/")


def groups(
    lines: Iterable[str], agents_lines: Mapping[str, Sequence[str]]
) -> list[tuple[str, ...]]:
    """The lines in groups connected by shared agents (an agent on two lines joins their
    groups), each group's lines sorted and the groups in the order of their first line;
    an agent's line that is not among `lines` is left out."""
    known = set(lines)
    parent = {line: line for line in known}

    def root(line: str) -> str:
        while parent[line] != line:
            parent[line] = parent[parent[line]]  # (halving: the chains stay short)
            line = parent[line]
        return line

    for on in agents_lines.values():
        mine = sorted(known.intersection(on))
        for other in mine[1:]:
            a, b = root(mine[0]), root(other)
            parent[max(a, b)] = min(a, b)
    out: dict[str, list[str]] = {}
    for line in sorted(known):
        out.setdefault(root(line), []).append(line)
    return [tuple(group) for _, group in sorted(out.items())]


def weights(
    found: Iterable[tuple[str, ...]], agents_lines: Mapping[str, Sequence[str]]
) -> dict[tuple[str, ...], int]:
    """Each group's weight, what a node's share counts (service.node): the agents who work
    on its lines (each once), at least 1 (a group of lines no agent works on)."""
    where = {line: group for group in found for line in group}
    counted: dict[tuple[str, ...], int] = dict.fromkeys(where.values(), 0)
    for on in agents_lines.values():
        for group in {where[x] for x in on if x in where}:
            counted[group] += 1
    return {group: max(1, n) for group, n in counted.items()}


@dataclass(frozen=True)
class _Seen:
    """The store's lines as a Layout last read them, at a lines revision."""

    revision: int
    groups: list[tuple[str, ...]]
    served: frozenset[str]
    weights: dict[tuple[str, ...], int]
    agents_lines: Mapping[str, Sequence[str]]


class Layout:
    """The store's lines as nodes lead them: those that can be served, in groups, each
    with its weight. A line that cannot be served (no flow, a flow refused) is logged and
    left out, as a server leaves it out: no node leads it, and its calls go to the home
    line, which refuses them as a number no line has; it is led once it is imported again,
    served. Read again only when the store's lines change (nodes ask every half second):
    the agents' lines, which make the groups and their weights, change only with them
    (`save_line` writes them and moves the lines revision on, in one transaction)."""

    def __init__(self, *, store: Store, home: str) -> None:
        """`home`: the settings' number (its line is always led: one that cannot be served
        stops the node that builds it, as it stops `hotline serve`)."""
        self.store = store
        self.home = home
        self._lock = threading.Lock()
        self._seen: _Seen | None = None

    def groups(self) -> list[tuple[str, ...]]:
        return self._now().groups

    def served(self) -> frozenset[str]:
        """The lines nodes lead (those that can be served)."""
        return self._now().served

    def weight(self, group: tuple[str, ...]) -> int:
        """A group's weight (`weights`), as the store's lines were last read (by `groups`,
        just before: no read of its own); a group not found then (the lines read again
        meanwhile, by another thread) is weighed by the agents on its lines then."""
        with self._lock:
            seen = self._seen
        if seen is None:
            seen = self._now()
        if group in seen.weights:
            return seen.weights[group]
        return weights([group], seen.agents_lines)[group]

    def _now(self) -> _Seen:
        revision = self.store.lines_revision()
        with self._lock:
            seen = self._seen
        if seen is None or seen.revision != revision:  # (read outside the lock: checking
            ok = frozenset(self._servable())  # each line's flow takes a while, and the
            on = self.store.agents_lines()  # requests placed meanwhile need not wait for
            found = groups(ok, on)  # it; two threads may both read: the same)
            seen = _Seen(revision, found, ok, weights(found, on), on)
            with self._lock:
                self._seen = seen
        return seen

    def _servable(self) -> Iterable[str]:
        for meta in self.store.lines():
            if meta["number"] != self.home:
                try:
                    line_setup(self.store, meta, None)
                except StoreError:  # the database's moment, not the line's: the look fails,
                    raise  # and the next one reads the lines again (nothing kept meanwhile)
                except HotlineError as e:
                    log.error("line %r cannot be served (no node leads it): %s", meta["name"],
                              e.message)  # fmt: skip
                    continue
            yield meta["name"]


@dataclass(frozen=True)
class Placement:
    """The line a request is for, so that a node sends it to the node that leads that line
    (web.node_app). `home`: the settings' number; its line answers what is for no line."""

    store: Store
    accounts: AccountStore
    home: str
    layout: Layout | None = field(default=None)  # (None: every line in the store is led)

    def webhook(self, call: str | None, number: str | None) -> str | None:
        """A carrier webhook's line, as `LiveLine.recover` places its call: the line of
        the number the call called, else the call's own line if no line has that number
        now; for a call new to the store, that of the number it calls. Else (no such line
        in the store) the home line; None if there is none."""
        placed = self.store.call_placed(call) if call else None
        if placed is not None:
            line, called = placed
            owner = self.store.line_of_number(called)
            if owner is not None:
                return self._led(owner)
            if any(meta["name"] == line for meta in self.store.lines()):
                return self._led(line)
        elif number and (owner := self.store.line_of_number(number)) is not None:
            return self._led(owner)
        return self.store.line_of_number(self.home)

    def _led(self, line: str) -> str | None:
        """The line, if nodes lead it; else the home line (which refuses its calls)."""
        if self.layout is None or line in self.layout.served():
            return line
        return self.store.line_of_number(self.home)

    def person(self, path: str, bearer: str | None, cookie: str | None) -> str | None:
        """A person's request's line: None for what is no line's (the pages and their
        files, log-on and log-off, the audit trail: the store's, which the node of any line
        serves, so they do not wait while the home line is taken over); a call's or an
        agent's the path names (a supervisor forcing an agent's state or joining a call, an
        admin changing an agent's skills or a line), else the line of the agent who asks (a
        bearer token's, a session's), else the home line. Only reads: the node that serves
        it checks who asks."""
        if not path.startswith("/api/") or path.startswith(ANY_LINES):
            return None
        parts = path.split("/")
        named = parts[4] if len(parts) > 4 else ""
        if path.startswith("/api/supervisor/calls/"):
            return self.webhook(named, None)
        if path.startswith("/api/admin/lines/") and any(
            meta["name"] == unquote(named) for meta in self.store.lines()
        ):  # (one no node leads: the home line's node changes it, as any line in the store)
            return self._led(unquote(named))
        agent = None
        if path.startswith(("/api/supervisor/agents/", "/api/admin/agents/")):
            agent = unquote(named)
        elif path.startswith("/api/agent/"):
            agent = self._asker(bearer, cookie)
        lines: Collection[str] = self.store.lines_of_agent(agent) if agent else []
        if self.layout is not None:
            served = self.layout.served()
            lines = [x for x in lines if x in served]
        return next(iter(lines), None) or self.store.line_of_number(self.home)

    def _asker(self, bearer: str | None, cookie: str | None) -> str | None:
        """The agent a bearer token or a session cookie is for (None: neither is known)."""
        if bearer:
            return self.store.agent_for_token(bearer)
        session = self.accounts.session(token_digest(cookie)) if cookie else None
        user = self.accounts.user(session.username) if session is not None else None
        return user.agent_id if user is not None else None
