"""The IVR lockouts' attempts under way, kept apart from their failures (store.guards): a
key whose attempts under way fill its limit is busy, not locked. The rows' failures stay
as they were (attempts then still under way among them: counted as failures, stricter).
A downgrade counts the attempts still under way as failures, as the code before did.

Revision ID: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("lookup_guard") as t:
        t.add_column(sa.Column("in_flight", sa.JSON, nullable=False, server_default="[]"))


def downgrade() -> None:
    guard = sa.table(
        "lookup_guard",
        sa.column("key_sha256", sa.String),
        sa.column("failures", sa.JSON),
        sa.column("in_flight", sa.JSON),
    )
    conn = op.get_bind()
    for key, failures, in_flight in conn.execute(sa.select(guard)).all():
        if in_flight:
            conn.execute(sa.update(guard).where(guard.c.key_sha256 == key)
                         .values(failures=[*failures, *(e["at"] for e in in_flight)]))  # fmt: skip
    with op.batch_alter_table("lookup_guard") as t:
        t.drop_column("in_flight")
