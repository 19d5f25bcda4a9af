"""A call-control fake that records what the platform asked the carrier to do."""

from __future__ import annotations


class RecordingCallControl:
    def __init__(self) -> None:
        self.connected: list[tuple[str, str]] = []
        self.hung_up: list[str] = []

    def connect(self, call_sid: str, agent_id: str) -> None:
        self.connected.append((call_sid, agent_id))

    def hang_up(self, call_sid: str) -> None:
        self.hung_up.append(call_sid)
