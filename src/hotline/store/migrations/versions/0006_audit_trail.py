"""The audit trail: entries and signed checkpoints, insert-only (triggers refuse UPDATE and
DELETE on SQLite and PostgreSQL, and TRUNCATE on PostgreSQL).

Revision ID: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TABLES = ("audit_entries", "audit_checkpoints")


def upgrade() -> None:
    op.create_table(
        "audit_entries",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("at_cs", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("session", sa.String(64)),
        sa.Column("source", sa.String(64)),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("object", sa.String(256)),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("at_cs", sa.BigInteger, nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION '% on % is refused: the audit trail is insert-only', "
            "TG_OP, TG_TABLE_NAME; END $$"
        )
        for t in TABLES:
            op.execute(
                f"CREATE TRIGGER {t}_insert_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {t} "
                "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()"
            )
    else:
        for t in TABLES:
            for what in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {t}_no_{what.lower()} BEFORE {what} ON {t} BEGIN "
                    f"SELECT RAISE(ABORT, '{what} on {t} is refused: the audit trail is "
                    "insert-only'); END"
                )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for t in TABLES:
        if postgres:
            op.execute(f"DROP TRIGGER {t}_insert_only ON {t}")
        else:
            op.execute(f"DROP TRIGGER {t}_no_update")
            op.execute(f"DROP TRIGGER {t}_no_delete")
        op.drop_table(t)
    if postgres:
        op.execute("DROP FUNCTION audit_refuse_change()")
