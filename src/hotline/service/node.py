"""One node of several on one database (`hotline serve --node NAME`). Lines that share
agents are led together, as a group (`spread.groups`): every half second a node claims
the groups no live node leads, whole (the leases of all its lines, or none), until it
leads its fair share (the groups over the live nodes, rounded up); it builds each group
it claims from the store (recovering its open calls) and serves it. A node that leads more
than its share while another leads less hands a group over (`handing`): it stops serving
it and lets its leases go, and the other claims it and recovers it from the store, as in a
takeover. So one node alone leads everything, the groups spread over the nodes that join,
and a node that dies has its groups taken by the others.
A leader renews its leases every `ttl / 3` seconds; it trusts them only until `ttl * TRUST` after
the last renewal that succeeded, on its own monotonic clock, and stops at once (the process
exits: a supervisor starts it again as a standby) if that runs out or a lease was taken —
a paused or cut-off leader never acts on a lease that may be another's, and its writes are
refused by the fence anyway."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from hotline.errors import NodeRefused
from hotline.store.leases import Fence, Lease, Leases, leases

log = logging.getLogger("hotline.node")
TRUST = 0.8  # of a lease's time, after its last renewal, that the leader acts on it
EXIT_LOST = 75  # the process's exit status when it stops leading (EX_TEMPFAIL)
STANDBY_CLAIMS = 0.5  # seconds between a standby's claims


@dataclass
class Leadership:
    """What this node leads, and until when it may act on it (monotonic seconds)."""

    leases: dict[str, Lease] = field(default_factory=dict)
    trusted_until: float = 0.0


class Node:
    def __init__(
        self,
        *,
        leases: Leases,
        groups: Callable[[], Sequence[Sequence[str]]],
        monotonic: Callable[[], float] = time.monotonic,
        on_lost: Callable[[str], None],
    ) -> None:
        """`groups`: the store's lines in the groups that are led together (`spread.groups`,
        each sorted); `on_lost(why)`: called once the node may no longer act as leader
        (`hotline serve` exits there)."""
        self.leases = leases
        self.fence = Fence(leases.instance)
        self.fence.taken = lambda lines: self.lost(f"a write found {', '.join(lines)} "
                                                   "taken over")  # fmt: skip
        self._groups = groups
        self.seen: list[tuple[str, ...]] = []  # the groups as the last round found them
        self.handing: tuple[str, ...] | None = None  # a group to hand over (see `claim`)
        self._monotonic = monotonic
        self._on_lost = on_lost
        self._lock = threading.Lock()
        self.state = Leadership()
        self._served: dict[str, tuple[str, ...]] = {}  # each line led: the group it is in here

    @property
    def name(self) -> str:
        return self.leases.node

    @property
    def every(self) -> float:
        """Seconds between a leader's renewals."""
        return self.leases.ttl / 3

    @property
    def watch_every(self) -> float:
        """Seconds between a standby's claims: often (a claim is one small transaction),
        so a leader that lets go is followed at once and a dead one soon after its lease."""
        return min(STANDBY_CLAIMS, self.every)

    def leading(self) -> bool:
        with self._lock:
            return bool(self.state.leases) and self._monotonic() < self.state.trusted_until

    def led(self) -> dict[str, int]:
        """The lines led, with their epochs."""
        with self._lock:
            return {line: lease.epoch for line, lease in sorted(self.state.leases.items())}

    def served_in(self) -> dict[str, tuple[str, ...]]:
        """Each line led, with the group it is served in (one app each: web.node_app): the
        group it was claimed with, or, for a line new in the store that joined a group led
        here, that group. It stays so while the store's agents join or part groups: the app
        that has a line's calls and agents serves it until this node stops."""
        with self._lock:
            return {line: self._served[line] for line in self.state.leases}

    def claim(self) -> list[tuple[str, ...]]:
        """A round (after the heartbeat or the renewal): claim the groups no live node
        leads, whole, in one order on every node (so two nodes claiming at once share
        them, not split one), until this node leads its fair share; and a line new in the
        store that joins a group it leads. Returns the groups it leads from now."""
        began = self._monotonic()
        found = [tuple(sorted(g)) for g in self._groups()]
        now, held, members = leases(self.leases.engine)  # (a read: no epoch grows for naught)
        self.seen = found
        with self._lock:
            mine, served = set(self.state.leases), dict(self._served)
        live = [x for x in held if x.expires_at > now and x.line not in mine]
        others = {x.line for x in live}
        alive = {m.name for m in members if now - m.seen_at < self.leases.ttl}
        share = math.ceil(len(found) / max(len(alive), 1))
        leading = [g for g in found if mine.intersection(g)]
        ever = {x.line for x in held}  # (the lines led at some time: a new one has no lease)
        for group in leading:
            parts = {served[x] for x in mine.intersection(group)}
            if len(parts) > 1 or others.intersection(group) or (set(group) - mine) & ever:
                # groups joined (an agent put on lines led apart, or served here apart): one
                # node must lead them, with their calls recovered; each node that leads a
                # part starts again (status 75, its leases let go at once), and the nodes
                # claim the joined group afresh, as after a takeover
                self.give_up(f"the lines {', '.join(group)} share agents now: led apart, an "
                             "agent would work on two floors; this node starts again to "
                             "lead them together")  # fmt: skip
                return []
        taken: list[Lease] = []
        joined: dict[str, tuple[str, ...]] = {}  # the lines taken, the group each is served in
        for group in leading:  # a line added to the store that joins a group led here
            into = served[min(mine.intersection(group))]
            for line in sorted(set(group) - mine - others):
                lease = self.leases.claim(line)
                if lease is not None:
                    log.info("node %s now also leads %s (epoch %d)", self.name, line, lease.epoch)
                    taken.append(lease)
                    joined[line] = into
        new: list[tuple[str, ...]] = []
        for group in found:
            if len(leading) + len(new) >= share:
                break
            if others.intersection(group) or mine.intersection(group):
                continue
            got = self._claim_whole(group)
            if got:
                taken += got
                new.append(group)
                joined.update(dict.fromkeys(group, group))
        if taken:
            with self._lock:
                if not self.state.leases:  # (a leader's trust comes from its renewals)
                    self.state.trusted_until = began + self.leases.ttl * TRUST
                self.state.leases.update({x.line: x for x in taken})
                self._served.update(joined)
            for lease in taken:
                self.fence.lead(lease)
        for group in new:
            log.info("node %s leads %s", self.name, ", ".join(
                f"{x.line} (epoch {x.epoch})" for x in taken if x.line in group))  # fmt: skip
        # more than its share while a live node leads less, and no group free to take:
        # one group handed over (the last), one at a time (the next once it is taken)
        theirs = Counter(next(x.node for x in live if x.line in g) for g in found
                         if others.intersection(g))  # fmt: skip
        short = [n for n in alive - {self.name} if theirs[n] < share]
        free = any(not (others | mine).intersection(g) for g in found)
        more = len(leading) + len(new) > share
        last = min(mine.intersection(leading[-1])) if leading else ""
        self.handing = served.get(last) if more and short and not free else None  # (its app's)
        return new

    def hand_over(self, group: tuple[str, ...]) -> None:
        """Stop leading a group (its app has stopped): its leases go at once, for the node
        that leads less to claim; this node's writes of it are refused from now."""
        with self._lock:  # (not renewed from now: if they cannot be let go, they run out)
            lines = sorted(line for line in self.state.leases if self._served[line] == group)
            for line in lines:
                del self.state.leases[line], self._served[line]
        for line in lines:  # (before they go: a late write is refused, never taken for a
            self.fence.drop(line)  # takeover's, which would stop this node)
        try:
            self.leases.leave_lines(lines)
        except Exception as e:  # noqa: BLE001 - they run out by themselves then
            log.warning("node %s could not let %s go (%s): they run out in %g s", self.name,
                        ", ".join(lines), type(e).__name__, self.leases.ttl)  # fmt: skip
        log.info("node %s hands %s over (it leads more than its share)", self.name,
                 ", ".join(lines))  # fmt: skip

    def _claim_whole(self, group: tuple[str, ...]) -> list[Lease]:
        """Every line of the group, or none (those taken let go: another node holds one)."""
        taken: list[Lease] = []
        for line in group:
            lease = self.leases.claim(line)
            if lease is None:
                if taken:
                    self.leases.leave_lines([x.line for x in taken])
                return []
            taken.append(lease)
        return taken

    def renew(self) -> None:
        """A leader's round: renew every lease (and the node's heartbeat); a lease taken
        over, or no renewal within the trusted time, and the node stops leading."""
        began = self._monotonic()
        with self._lock:
            held = list(self.state.leases.values())
        try:
            renewed = self.leases.renew_all(held)
        except NodeRefused as e:
            self.lost(e.message)
            return
        except Exception as e:  # noqa: BLE001 - the database is away: trusted a while yet
            log.warning("node %s could not renew its leases (%s): it trusts them %.1f s more",
                        self.name, type(e).__name__, self.state.trusted_until - began)  # fmt: skip
            self.check()
            return
        gone = [lease.line for lease, new in zip(held, renewed, strict=True) if new is None]
        if gone:
            self.lost(f"another node took over {', '.join(gone)}")
            return
        with self._lock:
            self.state = Leadership({x.line: x for x in renewed if x is not None},
                                    began + self.leases.ttl * TRUST)  # fmt: skip

    def check(self) -> None:
        """Before acting as leader: stop if the leases may no longer be trusted."""
        with self._lock:
            held, until = bool(self.state.leases), self.state.trusted_until
        if held and self._monotonic() >= until:
            self.lost("its leases were not renewed in time (paused, or cut off from the database)")

    def give_up(self, why: str) -> None:
        """Stop leading by choice (a group could not be built here, or groups led apart
        joined): the leases go at once, so another node need not wait for them to run out,
        and the node leaves the store's list of nodes (counted alive, it would keep the
        others to a share that leaves its groups to it; and its restart may join under its
        name at once); then as `lost`."""
        try:
            self.leases.leave()
        except Exception as e:  # noqa: BLE001 - they run out by themselves then
            log.warning("node %s could not let its leases go (%s)", self.name,
                        type(e).__name__)  # fmt: skip
        self.lost(why)

    def lost(self, why: str) -> None:
        with self._lock:
            lines = sorted(self.state.leases)
            self.state = Leadership()
            self._served = {}
        for line in lines:
            self.fence.drop(line)
        log.critical("node %s stops leading %s: %s", self.name, ", ".join(lines), why)
        self._on_lost(why)
