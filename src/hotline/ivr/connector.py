"""The connector port: how a flow's `lookup` node reaches a record system.

The interpreter only emits a `Lookup` action and waits for a `LookupResult`; the driver (the
telephony adapter, `hotline flow run`) calls a connector and feeds the result back. Real
connectors, their disclosure policy and the audit chain belong to `records/`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from hotline.ivr.interpreter import LookupResult


class Connector(Protocol):
    def lookup(self, operation: str, params: Mapping[str, str]) -> LookupResult:
        """Answer one look-up; an unreachable system gives status "error", never raises."""
        ...
