"""One node of several on one database (`hotline serve --node NAME`): it leads every line
or none (active/standby). A standby claims the lines' leases every half second; once it
holds them all it builds the line from the store (recovering the open calls) and serves.
A leader renews its leases every `ttl / 3` seconds; it trusts them only until `ttl * TRUST` after
the last renewal that succeeded, on its own monotonic clock, and stops at once (the process
exits: a supervisor starts it again as a standby) if that runs out or a lease was taken —
a paused or cut-off leader never acts on a lease that may be another's, and its writes are
refused by the fence anyway."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from hotline.errors import NodeRefused
from hotline.store.leases import Fence, Lease, Leases

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
        lines: Callable[[], list[str]],
        monotonic: Callable[[], float] = time.monotonic,
        on_lost: Callable[[str], None],
    ) -> None:
        """`lines`: the names of the lines in the store; `on_lost(why)`: called once the
        node may no longer act as leader (`hotline serve` exits there)."""
        self.leases = leases
        self.fence = Fence(leases.instance)
        self.fence.taken = lambda lines: self.lost(f"a write found {', '.join(lines)} "
                                                   "taken over")  # fmt: skip
        self._lines = lines
        self._monotonic = monotonic
        self._on_lost = on_lost
        self._lock = threading.Lock()
        self.state = Leadership()

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

    def try_to_lead(self) -> bool:
        """A standby's round: claim every line (in one order on every node, so two nodes
        claiming at once do not split the lines); all of them, or let go of those taken."""
        began = self._monotonic()
        if self.leases.led_by_another():  # (a read, not a claim: no epoch grows for naught)
            return False
        taken: list[Lease] = []
        for line in sorted(self._lines()):
            lease = self.leases.claim(line)
            if lease is None:
                break
            taken.append(lease)
        else:
            if taken:
                with self._lock:
                    self.state = Leadership({x.line: x for x in taken},
                                            began + self.leases.ttl * TRUST)  # fmt: skip
                for lease in taken:
                    self.fence.lead(lease)
                log.info("node %s leads %s", self.name,
                         ", ".join(f"{x.line} (epoch {x.epoch})" for x in taken))  # fmt: skip
                return True
            return False
        if taken:  # another node holds a line: it leads, not us
            self.leases.leave_lines([x.line for x in taken])
        return False

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
        new_lines = set(self._lines()) - set(self.state.leases)
        for line in sorted(new_lines):  # a line added while the node leads
            lease = self.leases.claim(line)
            if lease is not None:
                log.info("node %s now also leads %s (epoch %d)", self.name, line, lease.epoch)
                self.fence.lead(lease)
                with self._lock:
                    self.state.leases[line] = lease

    def check(self) -> None:
        """Before acting as leader: stop if the leases may no longer be trusted."""
        with self._lock:
            held, until = bool(self.state.leases), self.state.trusted_until
        if held and self._monotonic() >= until:
            self.lost("its leases were not renewed in time (paused, or cut off from the database)")

    def give_up(self, why: str) -> None:
        """Stop leading by choice (the line could not be built here): the leases go at
        once, so another node need not wait for them to run out; then as `lost`."""
        with self._lock:
            lines = sorted(self.state.leases)
        try:
            self.leases.leave_lines(lines)
        except Exception as e:  # noqa: BLE001 - they run out by themselves then
            log.warning("node %s could not let its leases go (%s)", self.name,
                        type(e).__name__)  # fmt: skip
        self.lost(why)

    def lost(self, why: str) -> None:
        with self._lock:
            lines = sorted(self.state.leases)
            self.state = Leadership()
        for line in lines:
            self.fence.drop(line)
        log.critical("node %s stops leading %s: %s", self.name, ", ".join(lines), why)
        self._on_lost(why)
