"""The tables. Calls and agents' tokens are rows that change; call events are appended and
never updated; webhook replies make every carrier callback idempotent."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
)

metadata = MetaData()

calls = Table(
    "calls",
    metadata,
    Column("sid", String(64), primary_key=True),
    Column("line", String(64), nullable=False),
    Column("caller", String(256), nullable=False),  # E.164, or a SIP URI / client id
    Column("called", String(256), nullable=False),
    Column("language", String(16), nullable=False),
    Column("queue", String(64)),
    Column("priority", Integer, nullable=False, default=0),
    Column("state", String(16), nullable=False),  # domain CallState values
    Column("attributes", JSON, nullable=False, default=dict),
    Column("callback_number", String(256)),
    Column("arrived_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

call_events = Table(
    "call_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("call_sid", String(64), index=True),
    Column("at", Float, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("data", JSON, nullable=False),
)

# (CallSid, step) -> the TwiML we answered: a retried callback gets the same answer and
# changes nothing (carrier signatures carry no timestamp, so replays must be harmless).
webhook_replies = Table(
    "webhook_replies",
    metadata,
    Column("call_sid", String(64), primary_key=True),
    Column("step", String(64), primary_key=True),
    Column("twiml", Text, nullable=False),
    Column("at", Float, nullable=False),
)

agent_tokens = Table(
    "agent_tokens",
    metadata,
    Column("agent_id", String(64), primary_key=True),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
)

flow_versions = Table(
    "flow_versions",
    metadata,
    Column("flow", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("source", Text, nullable=False),
    Column("loaded_at", Float, nullable=False),
)

# -- lines: what `hotline line import` loads and `hotline serve` answers. A line's queues,
# its agents' skills, queues and shifts are rows an administrator can change; `extras`
# keeps the rest of the scenario it came from (arrivals, callers, durations) for export.

lines = Table(
    "lines",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("number", String(32), nullable=False, unique=True),  # E.164
    Column("timezone", String(64), nullable=False),
    Column("flow", String(64)),  # the active flow version (flow_versions)
    Column("flow_version", Integer),
    Column("flow_path", Text),  # its file (with the catalogs and includes beside it)
    Column("mode", String(16), nullable=False, server_default="normal"),  # LINE_MODES
    Column("routing", JSON, nullable=False),  # policy, offer_timeout, answer_delay
    Column("service_level", JSON, nullable=False),
    Column("callbacks", JSON),
    Column("extras", JSON, nullable=False),
    Column("updated_at", Float, nullable=False),
)

line_queues = Table(
    "line_queues",
    metadata,
    Column("line", String(64), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("overflow_queue", String(64)),
    Column("overflow_fallback", String(64)),
    Column("wrap_up_seconds", Float, nullable=False),
    Column("aging_per_minute", Float, nullable=False),
    Column("patience", JSON),  # the queue's own callers' patience, as in the scenario
)

queue_steps = Table(
    "queue_steps",
    metadata,
    Column("line", String(64), primary_key=True),
    Column("queue", String(64), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("require", JSON, nullable=False),  # skill -> minimum level
    Column("seconds", Float),  # None: no limit
)

agents = Table(
    "agents",
    metadata,
    Column("id", String(64), primary_key=True),  # stable: `{team}-{n}`
    Column("team", String(64), nullable=False),
    Column("number", Integer, nullable=False),
)

agent_skills = Table(
    "agent_skills",
    metadata,
    Column("agent_id", String(64), primary_key=True),
    Column("skill", String(64), primary_key=True),
    Column("level", Integer, nullable=False),
)

# an agent works on a line: which of its queues (in tiers), and when
agent_lines = Table(
    "agent_lines",
    metadata,
    Column("agent_id", String(64), primary_key=True),
    Column("line", String(64), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("queues", JSON, nullable=False),  # [{queue, tier}]
    Column("shifts", JSON, nullable=False),  # [{start: "07:30", hours, days: [...]}]
)

# -- accounts (migration 0003)

users = Table(
    "users",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("role", String(16), nullable=False),  # service.roles.ROLES
    Column("agent_id", String(64), unique=True),  # an agent's account: the agent it is
    Column("password_hash", Text, nullable=False),  # Argon2id
    Column("mfa", Boolean, nullable=False),
    # sealed (service.sealing: v1:<key id>:...; migration 0004 widened it), or base32 in
    # clear from before 0004 until sealed at the user's next log-on; None without MFA
    Column("totp_secret", Text),
    Column("totp_last_step", Integer),  # the last code's time step: a code is used once
    Column("multi_session", Boolean, nullable=False),
    Column("disabled", Boolean, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("password_set_at", Float, nullable=False),
)

# failed log-ons by the name tried (known or not: an unknown name is answered alike)
# logon_guard's keys: a user name (its failed log-ons, and its lock), `~` and a hash (a
# name's failures from one address), `+` and a hash (a name logged on from that address
# lately: no lock of the name keeps its owner out from there; kept KNOWN_FOR)
KNOWN_PREFIX = "+"
KNOWN_FOR = 30 * 86400.0
FAILURES_KEPT_FOR = 86400.0  # a row of failures is purged after this (the longest window)
logon_guard = Table(
    "logon_guard",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("failures", JSON, nullable=False),  # times of failures within the window
    Column("locked_at", Float),  # until an administrator unlocks
    Column("last_at", Float, index=True),  # the last failure (the purge forgets stale rows)
)

nodes = Table(  # the nodes that serve (store.leases); times on the database's clock
    "nodes",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("instance", String(32), nullable=False),  # this run of the node
    Column("address", String(256), nullable=False),  # where other nodes reach it
    Column("started_at", Float, nullable=False),
    Column("seen_at", Float, nullable=False),
)

line_leases = Table(  # who leads each line (store.leases)
    "line_leases",
    metadata,
    Column("line", String(64), primary_key=True),
    Column("node", String(64), nullable=False),
    Column("instance", String(32), nullable=False),
    Column("epoch", BigInteger, nullable=False),  # grows at every takeover
    Column("expires_at", Float, nullable=False),  # the database's clock, seconds
)

agent_states = Table(  # each agent's state as the line last had it (a restart resumes it)
    "agent_states",
    metadata,
    Column("agent_id", String(64), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("reason", String(64)),  # not ready: why
    Column("call_sid", String(64)),  # on a call, or wrapping it up: which
    Column("queue", String(64)),  # that call's queue
    Column("since", Float, nullable=False),  # in this state since (the line's clock)
    Column("line", String(64), nullable=False),  # the line the agent's state is kept on
    Column("leaving", Boolean, nullable=False, server_default=false()),  # log-out pending
)

lookup_guard = Table(  # the IVR's lockouts (store.guards)
    "lookup_guard",
    metadata,
    Column("key_sha256", String(64), primary_key=True),
    Column("failures", JSON, nullable=False),  # times of failed attempts (when they started)
    # attempts under way: [{"id", "at" (started), "until" (its answer due)}] (migration 0012)
    Column("in_flight", JSON, nullable=False, server_default="[]"),
    Column("last_at", Float, nullable=False, index=True),  # the last attempt (the purge)
)

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("token_sha256", String(64), primary_key=True),
    Column("username", String(64), ForeignKey("users.username"), nullable=False, index=True),
    Column("csrf", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("seen_at", Float, nullable=False),
    Column("source", String(64), nullable=False),  # the client's address at log-on
)

# -- the audit trail (records.audit): insert-only, refused UPDATE, DELETE (and TRUNCATE on
# PostgreSQL) by triggers (migration 0006). seq is given by the appender (last + 1), so a
# lost race is a duplicate key, never an overwrite; details is the canonical JSON hashed.
audit_entries = Table(
    "audit_entries",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at_cs", BigInteger, nullable=False),  # UTC, centiseconds since the epoch
    Column("actor", String(128), nullable=False),
    Column("role", String(32), nullable=False),
    Column("session", String(64)),
    Column("source", String(64)),  # the client's IP address
    Column("action", String(64), nullable=False),
    Column("object", String(256)),
    Column("outcome", String(16), nullable=False),
    Column("details", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("entry_hash", String(64), nullable=False),
)
# the auditor's search (newest first under a filter; migration 0007)
Index("ix_audit_entries_actor", audit_entries.c.actor, audit_entries.c.seq)
Index("ix_audit_entries_action", audit_entries.c.action, audit_entries.c.seq)
Index("ix_audit_entries_object", audit_entries.c.object, audit_entries.c.seq)
Index("ix_audit_entries_at", audit_entries.c.at_cs)

audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
    Column("note", Text, nullable=False),  # the signed checkpoint (C2SP signed note)
    Column("at_cs", BigInteger, nullable=False),
)

revisions = Table(  # (store.revisions)
    "revisions",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("value", BigInteger, nullable=False),
)
