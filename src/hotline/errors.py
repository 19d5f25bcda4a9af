"""The exceptions a user of Hotline can cause, and nothing else.

    HotlineError                 every error we raise on purpose; has a stable `error_id`
    ├── ConfigError              a scenario, flow or settings file is wrong
    │                            (carries every Problem found, each with file:line)
    ├── SettingsInvalid          a HOTLINE_* setting is wrong (the CLI exits 2)
    ├── StoreError               the store could not take a unit of work
    │   ├── StoreUnavailable     down, locked or stalled: trying again later can succeed
    │   ├── WriteRefused         refused for what it holds (a duplicate, too long): never
    │   │   └── Fenced           written for a line this node no longer leads (another
    │   │                        node took its lease: the write is the successor's now)
    │   ├── NodeRefused          a node cannot join: its name is taken by a running node
    │   ├── ChangedMeanwhile     a change made on what was read, which another changed
    │                            since (read again, then change)
    │   └── SealedValueUnreadable  a value sealed at rest does not open (no key, a key
    │                            not given: its id named, a changed or copied row)
    ├── RoutingError             an operation the ACD cannot perform in its current state
    │   ├── UnknownQueue
    │   ├── UnknownAgent
    │   ├── UnknownCall
    │   └── InvalidTransition    e.g. answering a call that was not offered to this agent
    ├── PolicyError              a question the disclosure policy cannot answer: an unknown
    │                            role, record type, purpose or verification level
    ├── AccessError              accounts and sessions
    │   ├── LogOnRefused         a wrong name, password or code, or a locked or disabled
    │   │                        account: one answer for all (it tells an attacker nothing)
    │   ├── SessionEnded         idle too long, too old, ended by a newer log-on, logged off
    │   ├── PasswordRefused      too short, or among the commonest passwords
    │   ├── UnknownUser          an administrator named a user who does not exist
    │   └── SealedSecretUnreadable  a stored TOTP secret does not open with
    │                            HOTLINE_SECRET_KEY (another key, a changed row): the
    │                            operator's to fix; a log-on gets LogOnRefused
    ├── LookupNotAudited         a record look-up whose audit entry could not be written:
    │                            refused, nothing of the record shown (fail closed)
    ├── CallNotRecovered         one open call could not be rebuilt at a start (a fault,
    │                            or its rows not as a line writes them): the start is made
    │                            again without it (`service.live.LiveLine.recover`)
    ├── LineStopped              a command for a line this server stopped serving (handed
    │                            over, or the server stops): refused, nothing done; its
    │                            sender tries again (the line's next leader answers it)
    └── AuditError               the audit trail (records.audit)
        ├── AuditKeyInvalid      HOTLINE_AUDIT_KEY or a verifier key missing or malformed
        ├── NoteInvalid          a signed note or checkpoint malformed or not signed by
        │                        the key given
        ├── EntryRefused         an audit entry with a field or detail it may not hold
        ├── TrailBroken          `hotline audit verify` found the trail changed
        └── SearchInvalid        a search of the trail with a malformed filter

Only `web/` maps these to HTTP status codes; the CLI prints `message` and exits 1.
The tree lives at the package root (not in `service/` as DESIGN.md once said) because the
pure core raises these too and must not import an adapter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


class HotlineError(Exception):
    """Base of every error Hotline raises on purpose."""

    error_id: ClassVar[str] = "hotline-error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input file, located as precisely as we can."""

    message: str
    file: str = "<input>"
    line: int | None = None
    column: int | None = None
    hint: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        text = f"{where}: {self.message}"
        if self.hint:
            text += f" (fix: {self.hint})"
        return text


class ConfigError(HotlineError):
    """An input file or option is invalid; `problems` lists everything found at once."""

    error_id: ClassVar[str] = "invalid-config"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class SettingsInvalid(HotlineError):
    """One or more settings are wrong; the message names each (`HOTLINE_X ... (fix: ...)`)
    and never echoes a value, which may be a secret."""

    error_id: ClassVar[str] = "invalid-settings"


class StoreError(HotlineError):
    error_id: ClassVar[str] = "store-error"


class StoreUnavailable(StoreError):
    error_id: ClassVar[str] = "store-unavailable"


class WriteRefused(StoreError):
    """The database refused a write for what it holds (too long, a duplicate, a character
    it cannot store): trying it again can never succeed."""

    error_id: ClassVar[str] = "write-refused"


class Fenced(WriteRefused):
    """A write for a line whose lease this node lost: the epoch it carries is stale."""

    error_id: ClassVar[str] = "fenced"


class NodeRefused(StoreError):
    """A node that cannot join the cluster (its name is held by a running node)."""

    error_id: ClassVar[str] = "node-refused"


class ChangedMeanwhile(StoreError):
    """A change based on what was read is refused: someone changed it since."""

    error_id: ClassVar[str] = "changed-meanwhile"


class RoutingError(HotlineError):
    error_id: ClassVar[str] = "routing-error"


class UnknownQueue(RoutingError):
    error_id: ClassVar[str] = "unknown-queue"


class UnknownAgent(RoutingError):
    error_id: ClassVar[str] = "unknown-agent"


class UnknownCall(RoutingError):
    error_id: ClassVar[str] = "unknown-call"


class InvalidTransition(RoutingError):
    error_id: ClassVar[str] = "invalid-transition"


class AccessError(HotlineError):
    error_id: ClassVar[str] = "access"


class LogOnRefused(AccessError):
    error_id: ClassVar[str] = "log-on-refused"


class SessionEnded(AccessError):
    error_id: ClassVar[str] = "session-ended"


class PasswordRefused(AccessError):
    error_id: ClassVar[str] = "password-refused"


class UnknownUser(AccessError):
    error_id: ClassVar[str] = "unknown-user"


class SealedSecretUnreadable(AccessError):
    """A sealed TOTP secret does not open with the key given; the message says why
    (another key, a changed or copied row, an unknown format) and holds no secret."""

    error_id: ClassVar[str] = "sealed-secret-unreadable"


class SealedValueUnreadable(StoreError):
    """A sensitive value the store keeps sealed does not open: no key, an unknown key (its
    id named, never a key), a changed row or a value copied from another row."""

    error_id: ClassVar[str] = "sealed-value-unreadable"


class PolicyError(HotlineError):
    """A disclosure was asked for with a role, record type, purpose or verification level
    the policy does not know; the message names the value and what is allowed."""

    error_id: ClassVar[str] = "policy-error"


class LookupNotAudited(HotlineError):
    """A record look-up was refused because its audit entry could not be written."""

    error_id: ClassVar[str] = "lookup-not-audited"


class CallNotRecovered(HotlineError):
    """Rebuilding one open call at a start failed (`cause`: the fault's kind, never its
    text, which may hold what the call's rows hold). The line is left half-built: its
    driver builds it again with the call among those `left` (closed, their callers told)."""

    error_id: ClassVar[str] = "call-not-recovered"

    def __init__(self, sid: str, cause: str) -> None:
        super().__init__(f"call {sid} could not be recovered ({cause})")
        self.sid = sid
        self.cause = cause


class LineStopped(HotlineError):
    """A command reached a line after it stopped here (its writer closed: handed over to
    another node, or the server stops). It was refused before it changed anything: no
    write of it could land, so it must not be answered as done."""

    error_id: ClassVar[str] = "line-stopped"


class AuditError(HotlineError):
    error_id: ClassVar[str] = "audit"


class AuditKeyInvalid(AuditError):
    """A signing or verifier key is missing or malformed; the message says how to make
    one and never quotes the key."""

    error_id: ClassVar[str] = "audit-key-invalid"


class NoteInvalid(AuditError):
    error_id: ClassVar[str] = "note-invalid"


class EntryRefused(AuditError):
    """An audit entry holds what it may not (content, a secret, an unknown detail)."""

    error_id: ClassVar[str] = "audit-entry-refused"


class TrailBroken(AuditError):
    """The audit trail was changed: the message names the first broken entry or
    checkpoint."""

    error_id: ClassVar[str] = "audit-trail-broken"


class SearchInvalid(AuditError):
    """A search of the trail with a malformed filter: the message names it and what it
    takes (never echoing more than a short part of what was sent)."""

    error_id: ClassVar[str] = "bad-filter"
