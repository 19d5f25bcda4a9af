"""A call-control fake that records what the platform asked the carrier to do."""

from __future__ import annotations

import threading
from collections.abc import Callable

from hotline.telephony.control import CallGone, CarrierError


class RecordingCallControl:
    def __init__(self) -> None:
        self.connected: list[tuple[str, str]] = []
        self.hung_up: list[str] = []
        self.canceled: list[str] = []  # calls ended only if not answered yet (`cancel`)
        self.ended: list[str] = []  # callers' calls ended as not kept (`end_call`)
        self.dialled_back: list[tuple[str, str, str, str]] = []
        self.dial_back_legs: list[str] = []  # the sids the dial-backs' calls get, in order
        self.statuses: dict[str, str] = {}  # what the carrier would say of each call
        self.refuse: set[str] = set()  # calls the carrier's API refuses to connect
        self.gone: set[str] = set()  # calls it no longer has (their callers hung up)
        self.legs: list[tuple[str, str, str, str, str]] = []  # (call, label, action, mode, coach)
        self.parked: list[tuple[str, int]] = []
        self._changed = threading.Condition()  # notified at each request (`until`)

    def until(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until the server's requests (made off its request handlers) meet
        `condition`; a test fails with AssertionError if they never do."""
        with self._changed:
            if not self._changed.wait_for(condition, timeout):
                raise AssertionError("the carrier was never asked for what was expected")

    def _asked(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def connect(self, call_sid: str, agent_id: str, attempt: int = 1) -> None:
        if call_sid in self.refuse:
            raise CarrierError(f"the carrier refused to update call {call_sid}")
        if call_sid in self.gone:
            raise CallGone(f"the carrier refused to update call {call_sid}: not found")
        self.connected.append((call_sid, agent_id))
        self._asked()

    def hang_up(self, call_sid: str) -> None:
        self.hung_up.append(call_sid)
        self._asked()

    def cancel(self, call_sid: str) -> None:
        self.canceled.append(call_sid)
        self._asked()

    def end_call(self, call_sid: str) -> None:
        self.ended.append(call_sid)
        self._asked()

    def leg(
        self,
        call_sid: str,
        label: str,
        action: str,
        *,
        mode: str = "talk",
        coach: str = "",
        attempt: int = 0,
    ) -> None:
        self.legs.append((call_sid, label, action, mode, coach))
        self._asked()

    def park(self, call_sid: str, attempt: int) -> None:
        self.parked.append((call_sid, attempt))
        self._asked()

    def status(self, call_sid: str) -> str | None:
        return self.statuses.get(call_sid)

    def dial_back(self, call_sid: str, to: str, caller_id: str, status_url: str) -> str:
        """Its call's sid: `dial_back_legs`' next if any are left, else one made up."""
        self.dialled_back.append((call_sid, to, caller_id, status_url))
        leg = self.dial_back_legs.pop(0) if self.dial_back_legs else \
            f"CA{len(self.dialled_back):032x}"  # fmt: skip
        self._asked()
        return leg
