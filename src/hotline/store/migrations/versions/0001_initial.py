"""Calls, call events, webhook replies, agents' tokens, flow versions.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("sid", sa.String(64), primary_key=True),
        sa.Column("line", sa.String(64), nullable=False),
        sa.Column("caller", sa.String(256), nullable=False),
        sa.Column("called", sa.String(256), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("queue", sa.String(64)),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attributes", sa.JSON, nullable=False),
        sa.Column("callback_number", sa.String(256)),
        sa.Column("arrived_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "call_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("call_sid", sa.String(64), index=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
    )
    op.create_table(
        "webhook_replies",
        sa.Column("call_sid", sa.String(64), primary_key=True),
        sa.Column("step", sa.String(64), primary_key=True),
        sa.Column("twiml", sa.Text, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_table(
        "agent_tokens",
        sa.Column("agent_id", sa.String(64), primary_key=True),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "flow_versions",
        sa.Column("flow", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("loaded_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    for name in ("flow_versions", "agent_tokens", "webhook_replies", "call_events", "calls"):
        op.drop_table(name)
