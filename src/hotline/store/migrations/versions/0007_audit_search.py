"""Indexes for the auditor's search of the audit trail (newest first under an actor,
action or object filter, or a time range). The insert-only triggers are untouched: an index
changes no entry.

Revision ID: 0007
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_audit_entries_actor": ["actor", "seq"],
    "ix_audit_entries_action": ["action", "seq"],
    "ix_audit_entries_object": ["object", "seq"],
    "ix_audit_entries_at": ["at_cs"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "audit_entries", columns)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, "audit_entries")
