"""Sealed TOTP secrets: `users.totp_secret` becomes Text, wide enough for a sealed secret
(about 92 characters: service.sealing). The secrets already stored stay in clear: they
cannot be sealed here, without the key; each is sealed at its user's next log-on, or all
at once by `hotline user rekey`.

Revision ID: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite keeps a text of any length in a VARCHAR(64): only PostgreSQL needs the change
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("users", "totp_secret", type_=sa.Text, existing_type=sa.String(64))


def downgrade() -> None:  # (refused by PostgreSQL while a sealed secret is stored)
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("users", "totp_secret", type_=sa.String(64), existing_type=sa.Text)
