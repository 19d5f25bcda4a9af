"""Case-record look-ups from the agent desktop, under the disclosure policy, each audited.

An agent on a call states a purpose and a record's reference (a case number: records are
looked up by reference only, never searched for by name or place). The record system is
asked through its connector (`records.port`); what comes back is cut down by the policy
(`records.policy`) for the agent's role, the purpose and the caller's verification level
as the IVR set it on the call (read on the server, never taken from the browser); and an
audit entry (`records.audit`) says who looked up which record, on which call, for what,
and which fields were shown and withheld — never their values.

Fail closed: the entry is written before anything is shown; if it cannot be written the
look-up is refused (`LookupNotAudited`) and nothing of the record leaves the server."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from hotline.errors import AuditError, LookupNotAudited, PolicyError
from hotline.records.audit import FIELD_NAME, FIELDS_MAX, Entry, append
from hotline.records.policy import Policy
from hotline.records.port import Connector, LookupRequest, ask

log = logging.getLogger("hotline.records")

REFERENCE_MAX = 64  # characters of a record's reference (a case number)


@dataclass(frozen=True, slots=True)
class RecordSource:
    """Where records of one type are looked up: a connector, its operation, and the
    parameter the reference goes in."""

    record_type: str
    connector: str
    operation: str
    key: str


@dataclass(frozen=True, slots=True)
class Asker:
    """Who looks a record up: their agent id, account name, role, session and address."""

    agent_id: str
    actor: str
    role: str
    session: str | None = None
    source: str | None = None


@dataclass(frozen=True, slots=True)
class Looked:
    """What the agent is shown: `status` found, not_found or error (with `reason`); the
    fields disclosed, every other field of the record withheld with why; the audit
    entry's number."""

    status: str
    record_type: str
    reference: str
    purpose: str
    verification: str
    disclosed: Mapping[str, object] = field(default_factory=dict)
    withheld: Mapping[str, str] = field(default_factory=dict)
    reason: str = ""
    audit_seq: int = 0

    def as_json(self) -> dict[str, object]:
        return {"status": self.status, "record_type": self.record_type,
                "reference": self.reference, "purpose": self.purpose,
                "verification": self.verification, "disclosed": dict(self.disclosed),
                "withheld": dict(self.withheld), "reason": self.reason,
                "audit_seq": self.audit_seq}  # fmt: skip


class RecordDesk:
    def __init__(
        self,
        *,
        policy: Policy,
        sources: Mapping[str, RecordSource],
        connectors: Mapping[str, Connector],
        engine: Engine,
        clock: Callable[[], float],
    ) -> None:
        missing = sorted({s.connector for s in sources.values()} - set(connectors))
        if missing:
            raise PolicyError(f"records are looked up through connectors not configured: "
                              f"{', '.join(missing)}")  # fmt: skip
        unknown = sorted(set(sources) - set(policy.records))
        if unknown:
            raise PolicyError(f"the disclosure policy ({policy.source}) has no record type "
                              f"{', '.join(unknown)}: nothing of it could be shown")  # fmt: skip
        for record_type in sources:  # (their names go in audit entries, as they are)
            fields = policy.records[record_type]
            odd = [f for f in fields if not FIELD_NAME.fullmatch(f)]
            if odd or len(fields) > FIELDS_MAX:
                what = ", ".join(odd[:3]) or f"{len(fields)} fields"
                raise PolicyError(
                    f"record type {record_type!r} of {policy.source}: at most {FIELDS_MAX} "
                    f"fields, named with letters, digits, _ and . ({what})"
                )
        self.policy = policy
        self.sources = dict(sources)
        self.connectors = connectors
        self.engine = engine
        self.clock = clock

    def choices(self) -> dict[str, object]:
        """What the desktop offers: the purposes (name → description) and record types."""
        return {"purposes": dict(self.policy.purposes), "record_types": sorted(self.sources)}

    def level(self, verification: object) -> str:
        """The caller's verification as a level of the policy; a value the policy does
        not know counts as the weakest (fail closed)."""
        if isinstance(verification, str) and verification in self.policy.levels:
            return verification
        return self.policy.levels[0]

    def look_up(
        self,
        asker: Asker,
        *,
        call_sid: str,
        verification: object,
        record_type: str,
        reference: str,
        purpose: str,
    ) -> Looked:
        """Ask the record system (this blocks: run it off the event loop), cut the answer
        down by the policy, audit it, and return what may be shown. A purpose or record
        type the policy does not know is a `PolicyError`, before anything is asked."""
        source = self.sources.get(record_type)
        if source is None:
            raise PolicyError(f"no record type {record_type!r} is looked up here (known: "
                              f"{', '.join(sorted(self.sources)) or 'none'})")  # fmt: skip
        if purpose not in self.policy.purposes:
            raise PolicyError(f"no purpose {purpose!r} in the disclosure policy (known: "
                              f"{', '.join(self.policy.purposes)})")  # fmt: skip
        level = self.level(verification)
        request = LookupRequest(source.operation, {source.key: reference},
                                requester=asker.agent_id, purpose=purpose,
                                call_sid=call_sid)  # fmt: skip
        result = ask(source.connector, self.connectors[source.connector], request)
        looked = Looked(result.status, record_type, reference, purpose, level)
        if result.status == "found":
            disclosed, withheld = self._cut(asker.role, record_type, purpose, level, result.data)
            looked = Looked("found", record_type, reference, purpose, level,
                            disclosed=disclosed, withheld=withheld)  # fmt: skip
        elif result.status == "error":
            reason = str(result.data.get("reason", "")) or "the record system did not answer"
            looked = Looked("error", record_type, reference, purpose, level, reason=reason)
        seq = self._audit(asker, call_sid, source, looked)
        return Looked(looked.status, record_type, reference, purpose, level,
                      disclosed=looked.disclosed, withheld=looked.withheld,
                      reason=looked.reason, audit_seq=seq)  # fmt: skip

    def _cut(
        self, role: str, record_type: str, purpose: str, level: str, data: Mapping[str, object]
    ) -> tuple[dict[str, object], dict[str, str]]:
        """Every field the policy declares for the record type, shown (None: the record
        has no value for it) or withheld with why, whether the record holds it or not (so
        what is withheld never tells which withheld fields hold a value); fields the policy
        does not declare are dropped unnamed."""
        declared = {name: data.get(name) for name in self.policy.records[record_type]}
        d = self.policy.decide(role, record_type, purpose, level, declared)
        return dict(d.disclosed), dict(d.withheld)

    def _audit(self, asker: Asker, call_sid: str, source: RecordSource, looked: Looked) -> int:
        entry = Entry(
            at=self.clock(), actor=asker.actor, role=asker.role, action="record.lookup",
            outcome="error" if looked.status == "error" else "ok",
            object=f"{looked.record_type}:{looked.reference}"[:128],
            session=asker.session, source=asker.source,
            details={"purpose": looked.purpose, "call": call_sid,
                     "verification": looked.verification, "connector": source.connector,
                     "result": looked.status, "fields": sorted(looked.disclosed),
                     "withheld": sorted(looked.withheld)},
        )  # fmt: skip
        try:
            with self.engine.begin() as c:
                return append(c, entry)
        except (SQLAlchemyError, AuditError) as e:
            log.error("a look-up of %s on call %s was not shown: its audit entry could not be "
                      "written (%s)", looked.record_type, call_sid, type(e).__name__)  # fmt: skip
            raise LookupNotAudited(
                "the look-up could not be written to the audit trail, so nothing of the "
                "record is shown; try again, and tell a supervisor if it goes on"
            ) from None
