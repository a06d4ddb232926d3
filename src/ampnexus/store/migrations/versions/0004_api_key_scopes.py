"""API key scopes: read, operator, admin. Keys made before scopes existed could do
everything, so they become admin (nobody is locked out); a row written without a scope
may only read.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "api_keys",
        sa.Column("scope", sa.String(length=16), server_default="read", nullable=False),
    )
    op.execute("UPDATE api_keys SET scope = 'admin'")


def downgrade() -> None:
    op.drop_column("api_keys", "scope")  # SQLite 3.35+ drops a plain column in place
