"""One node of several on one database (`hotline serve --node NAME`). Lines that share
agents are led together, as a group (`spread.groups`): every half second a node claims
the groups no live node leads, whole (the leases of all its lines, or none), until it
leads its share of the load; it builds each group it claims from the store (recovering
its open calls) and serves it. A node that leads more than its share while another leads
less hands a group over (`handing`): it stops serving it and lets its leases go, and the
other claims it and recovers it from the store, as in a takeover. So one node alone leads
everything, the groups spread over the nodes that join, and a node that dies has its
groups taken by the others.

The share is one of load, not of groups (`claim`), and keeps these rules:

- a group's weight is the number of distinct agents working on its lines (`weigh`:
  `spread.Layout.weight`), at least 1 (a group of lines with no agents still spreads);
  agents, not calls: a stable proxy of its traffic (a hand-over is disruptive: it must be
  rare, and never follow the moment's calls back and forth);
- total = the weights of every group found; share = total / live nodes (no rounding);
- a node's load = the weights of the groups it leads (another node's: those of the groups
  one of whose lines it holds a live lease on: `loads`);
- claiming: a node claims the free groups (no live lease on any of their lines) in one
  order on every node (heaviest first, ties by first line name), one after another,
  while its load before the claim is below the share. If a group is free, the loads of
  the live nodes add up to less than the total, so some live node's is below the share:
  a free group (a dead leader's) is always claimed, promptly;
- handing over: only while no group is free, only by a node whose load exceeds the share,
  only if some other live node's is below it, and only a group g it can give and stay at
  or above the share (load - w(g) >= share): the heaviest such, ties by the last line
  name; one at a time. (What goes is the app g is served in, whole: groups that split
  after they were claimed together are still served by one app, so they weigh as one.)
  Only a node below the share claims it, so the excess (the sum of max(0, load - share)
  over the live nodes) strictly falls at each hand-over: hand-overs end, a group never
  goes back and forth (while the nodes and the weights stay).

A leader renews its leases every `ttl / 3` seconds; it trusts them only until `ttl * TRUST` after
the last renewal that succeeded, on its own monotonic clock, and stops at once (the process
exits: a supervisor starts it again as a standby) if that runs out or a lease was taken —
a paused or cut-off leader never acts on a lease that may be another's, and its writes are
refused by the fence anyway."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
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


def loads(weight: Mapping[tuple[str, ...], int], live: Iterable[Lease]) -> Counter[str]:
    """Each node's load: the weights of the groups (`weight`'s keys) it leads, a group
    being led by the node of a live lease on one of its lines (the first by line name)."""
    holder = {lease.line: lease.node for lease in live}
    out: Counter[str] = Counter()
    for group, w in weight.items():
        node = next((holder[x] for x in sorted(group) if x in holder), None)
        if node is not None:
            out[node] += w
    return out


class Node:
    def __init__(
        self,
        *,
        leases: Leases,
        groups: Callable[[], Sequence[Sequence[str]]],
        weigh: Callable[[tuple[str, ...]], int] = lambda _group: 1,
        monotonic: Callable[[], float] = time.monotonic,
        on_lost: Callable[[str], None],
    ) -> None:
        """`groups`: the store's lines in the groups that are led together (`spread.groups`,
        each sorted); `weigh(group)`: its weight, the agents on its lines
        (`spread.Layout.weight`; at least 1 is taken; not given, every group weighs 1);
        `on_lost(why)`: called once the node may no longer act as leader (`hotline serve`
        exits there)."""
        self.leases = leases
        self.fence = Fence(leases.instance)
        self.fence.taken = lambda lines: self.lost(f"a write found {', '.join(lines)} "
                                                   "taken over")  # fmt: skip
        self._groups = groups
        self._weigh = weigh
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
        them, not split one), heaviest first, while this node's load is below its share
        (the module's rules); and a line new in the store that joins a group it leads.
        Returns the groups it leads from now. Sets `handing`: a group to hand over, or
        None."""
        began = self._monotonic()
        found = [tuple(sorted(g)) for g in self._groups()]
        now, held, members = leases(self.leases.engine)  # (a read: no epoch grows for naught)
        weight = {g: max(1, self._weigh(g)) for g in found}
        self.seen = found
        with self._lock:
            mine, served = set(self.state.leases), dict(self._served)
        live = [x for x in held if x.expires_at > now and x.line not in mine]
        others = {x.line for x in live}
        alive = {m.name for m in members if now - m.seen_at < self.leases.ttl}
        share = sum(weight.values()) / max(len(alive), 1)
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
        load = sum(weight[g] for g in leading)
        new: list[tuple[str, ...]] = []
        for group in sorted(found, key=lambda g: (-weight[g], g)):  # (heaviest first)
            if load >= share:
                break
            if others.intersection(group) or mine.intersection(group):
                continue
            got = self._claim_whole(group)
            if got:
                taken += got
                new.append(group)
                joined.update(dict.fromkeys(group, group))
                load += weight[group]
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
        # more than its share while a live node leads less, and no group free to take: one
        # group handed over, one this node can give and stay at or above its share (so the
        # excess falls at each hand-over, and none comes back), one at a time
        theirs = loads(weight, live)
        short = [n for n in alive - {self.name} if theirs[n] < share]
        free = any(not (others | mine).intersection(g) for g in found)
        # what goes is an app's whole group (`served`): the lines of groups that split since
        # it was claimed are still served in one app, and go together, so an app's weight
        # is that of every group it serves
        apps: Counter[tuple[str, ...]] = Counter()
        for group in leading:
            apps[served[min(mine.intersection(group))]] += weight[group]
        given = [app for app, w in apps.items() if load - w >= share]
        self.handing = None
        if load > share and short and not free and given:
            self.handing = max(given, key=lambda app: (apps[app], app))  # (ties: the last)
        return new

    def hand_over(self, group: tuple[str, ...], why: str = "it leads more than its share") -> None:
        """Stop leading a group (its app has stopped, or was never built): its leases go at
        once, for another node to claim; this node's writes of it are refused from now."""
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
        log.info("node %s hands %s over (%s)", self.name, ", ".join(lines), why)

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
