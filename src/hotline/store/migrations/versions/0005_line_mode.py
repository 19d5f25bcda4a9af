"""A line's mode (normal, holiday, emergency), which its flow can branch on; set on the
admin page. Existing lines are in normal mode.

Revision ID: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("lines") as batch:
        batch.add_column(sa.Column("mode", sa.String(16), nullable=False, server_default="normal"))


def downgrade() -> None:
    with op.batch_alter_table("lines") as batch:
        batch.drop_column("mode")
