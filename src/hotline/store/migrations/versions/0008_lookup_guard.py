"""Failed look-ups counted across calls, for the IVR's lockouts (the agency PIN): one row
per guarded key, named by a SHA-256 only (the key itself, an agency ID say, is not kept).

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
    )


def downgrade() -> None:
    op.drop_table("lookup_guard")
