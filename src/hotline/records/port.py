"""The connector port: how a look-up reaches a record system, and what it answers.

A look-up is by a case reference or an agency id, asked by a verified requester for a
stated purpose: a `LookupRequest`. A connector answers every request with a `LookupResult`
("found" with the record's fields, "not_found", or "error" with a `reason`); a system that
cannot be reached, is too slow or answers nonsense gives "error", and `lookup` never raises.
`LookupResult` itself stays in the IVR's interpreter, which must not import an adapter."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from hotline.ivr.interpreter import LookupResult

__all__ = ["IVR", "Connector", "LookupRequest", "LookupResult", "ask", "error"]

log = logging.getLogger("hotline.records")
IVR = "ivr"  # the requester of the IVR's own look-ups (a caller verifying themselves)


@dataclass(frozen=True, slots=True)
class LookupRequest:
    """One look-up. `requester`: "ivr" or the agent id of who asks; `purpose`: what they
    stated it is for ("" for the IVR); `call_sid`: the call it is made on. The parameters'
    values never show in `repr` (a PIN may be among them)."""

    operation: str
    params: Mapping[str, str] = field(default_factory=dict)
    requester: str = IVR
    purpose: str = ""
    call_sid: str = ""

    def __repr__(self) -> str:
        return (
            f"LookupRequest(operation={self.operation!r}, params={sorted(self.params)}, "
            f"requester={self.requester!r}, purpose={self.purpose!r}, "
            f"call_sid={self.call_sid!r})"
        )


class Connector(Protocol):
    def lookup(self, request: LookupRequest) -> LookupResult:
        """Answer one look-up; an unreachable system gives status "error", never raises."""
        ...


def error(reason: str) -> LookupResult:
    """An "error" answer with its reason (which never quotes a parameter's value)."""
    return LookupResult("error", {"reason": reason})


def ask(name: str, connector: Connector, request: LookupRequest) -> LookupResult:
    """`connector.lookup(request)`, holding it to its promise: one that raises, or answers
    with something else than a LookupResult, is an "error" (logged by the exception's
    type only: a connector's message may quote what it was asked, a PIN)."""
    try:
        result = connector.lookup(request)
    except Exception as e:  # noqa: BLE001 - a connector that raises breaks its promise
        log.error("connector %r failed on %r: %s", name, request.operation, type(e).__name__)
        return error(f"the record system failed ({type(e).__name__})")
    if not isinstance(result, LookupResult):
        log.error("connector %r answered %r with a %s, not a LookupResult", name,
                  request.operation, type(result).__name__)  # fmt: skip
        return error("the record system gave no answer")
    return result
