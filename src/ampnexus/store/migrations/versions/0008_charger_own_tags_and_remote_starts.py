"""A charger's own id tag (plug & charge) is valid on that charger only:
id_tags.charge_point_id; transactions started by a RemoteStartTransaction say so:
transactions.started_remotely (false for every session before).

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Columns are added and dropped in place (ALTER TABLE; SQLite 3.35+ drops columns), not by a
# batch copy of the table: on SQLite a copy drops the table, which with foreign keys on
# deletes what cascades from it (needs, driver bindings), and loses uq_id_tags_lower_id_tag,
# an index on an expression that it cannot reflect to copy.
def upgrade() -> None:
    op.add_column("id_tags", sa.Column("charge_point_id", sa.String(length=255), nullable=True))
    op.add_column(
        "transactions",
        sa.Column("started_remotely", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_column("transactions", "started_remotely")
    op.drop_column("id_tags", "charge_point_id")
