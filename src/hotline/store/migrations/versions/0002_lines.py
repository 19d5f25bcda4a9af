"""Lines in the store: lines, their queues and escalation steps, agents, their skills, and
the lines they work on with their queues and shifts. Existing calls are kept as they are.

Revision ID: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lines",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("number", sa.String(32), nullable=False, unique=True),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("flow", sa.String(64)),
        sa.Column("flow_version", sa.Integer),
        sa.Column("flow_path", sa.Text),
        sa.Column("routing", sa.JSON, nullable=False),
        sa.Column("service_level", sa.JSON, nullable=False),
        sa.Column("callbacks", sa.JSON),
        sa.Column("extras", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "line_queues",
        sa.Column("line", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("overflow_queue", sa.String(64)),
        sa.Column("overflow_fallback", sa.String(64)),
        sa.Column("wrap_up_seconds", sa.Float, nullable=False),
        sa.Column("aging_per_minute", sa.Float, nullable=False),
        sa.Column("patience", sa.JSON),
    )
    op.create_table(
        "queue_steps",
        sa.Column("line", sa.String(64), primary_key=True),
        sa.Column("queue", sa.String(64), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("require", sa.JSON, nullable=False),
        sa.Column("seconds", sa.Float),
    )
    op.create_table(
        "agents",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("team", sa.String(64), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
    )
    op.create_table(
        "agent_skills",
        sa.Column("agent_id", sa.String(64), primary_key=True),
        sa.Column("skill", sa.String(64), primary_key=True),
        sa.Column("level", sa.Integer, nullable=False),
    )
    op.create_table(
        "agent_lines",
        sa.Column("agent_id", sa.String(64), primary_key=True),
        sa.Column("line", sa.String(64), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("queues", sa.JSON, nullable=False),
        sa.Column("shifts", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    for name in ("agent_lines", "agent_skills", "agents", "queue_steps", "line_queues", "lines"):
        op.drop_table(name)
