"""Counters that grow with every change of a kind (store.revisions): `access` (a token or
session ended, a user disabled) and `lines` (a line imported or changed), so a server
learns of a change by one cheap read, whoever made it and whatever their clock says.

Revision ID: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "revisions",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(table, [{"name": "access", "value": 0}, {"name": "lines", "value": 0}])


def downgrade() -> None:
    op.drop_table("revisions")
