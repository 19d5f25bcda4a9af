"""Failed look-ups counted across calls, for the IVR's lockouts (the agency PIN): one row
per guarded key, named by a SHA-256 (the key itself, an agency ID say, is not kept in
clear). The log-on guard's rows get the time of their last failure, so the purge can
forget stale rows with one statement (any name may be tried at log-on).

Revision ID: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lookup_guard",
        sa.Column("key_sha256", sa.String(64), primary_key=True),
        sa.Column("failures", sa.JSON, nullable=False),
        sa.Column("last_at", sa.Float, nullable=False),
    )
    op.create_index("ix_lookup_guard_last_at", "lookup_guard", ["last_at"])
    with op.batch_alter_table("logon_guard") as t:
        t.add_column(sa.Column("last_at", sa.Float))
    op.create_index("ix_logon_guard_last_at", "logon_guard", ["last_at"])


def downgrade() -> None:
    op.drop_index("ix_logon_guard_last_at", "logon_guard")
    with op.batch_alter_table("logon_guard") as t:
        t.drop_column("last_at")
    op.drop_table("lookup_guard")
