"""A call-control fake that records what the platform asked the carrier to do."""

from __future__ import annotations

from hotline.telephony.control import CarrierError


class RecordingCallControl:
    def __init__(self) -> None:
        self.connected: list[tuple[str, str]] = []
        self.hung_up: list[str] = []
        self.dialled_back: list[tuple[str, str, str, str]] = []
        self.statuses: dict[str, str] = {}  # what the carrier would say of each call
        self.refuse: set[str] = set()  # calls the carrier's API refuses to connect

    def connect(self, call_sid: str, agent_id: str, attempt: int = 1) -> None:
        if call_sid in self.refuse:
            raise CarrierError(f"the carrier refused to update call {call_sid}")
        self.connected.append((call_sid, agent_id))

    def hang_up(self, call_sid: str) -> None:
        self.hung_up.append(call_sid)

    def status(self, call_sid: str) -> str | None:
        return self.statuses.get(call_sid)

    def dial_back(self, to: str, caller_id: str, agent_id: str, status_url: str) -> None:
        self.dialled_back.append((to, caller_id, agent_id, status_url))
