"""Each agent's state as the line last had it (logged in, ready or not and why, the call
they are on or wrap up, whether they asked to log out after it), so a restart or a
takeover resumes agents where they were.

Revision ID: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_states",
        sa.Column("agent_id", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64)),
        sa.Column("call_sid", sa.String(64)),
        sa.Column("queue", sa.String(64)),
        sa.Column("since", sa.Float, nullable=False),
        sa.Column("line", sa.String(64), nullable=False),
        sa.Column("leaving", sa.Boolean, nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_table("agent_states")
