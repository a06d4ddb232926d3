""" "Charge now" overrides on sessions, and override entries on the mode audit trail
(existing entries become kind "mode").

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "transaction_overrides",
        sa.Column("transaction_id", sa.Integer(), nullable=False),
        sa.Column("set_by", sa.String(length=100), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["transactions.id"],
            name=op.f("fk_transaction_overrides_transaction_id_transactions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("transaction_id", name=op.f("pk_transaction_overrides")),
    )
    with op.batch_alter_table("charge_point_mode_history", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=24), nullable=False, server_default="mode")
        )
        batch_op.add_column(sa.Column("transaction_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    # The override entries go with the table they describe; mode entries stay as they were.
    op.execute("DELETE FROM charge_point_mode_history WHERE kind <> 'mode'")
    with op.batch_alter_table("charge_point_mode_history", schema=None) as batch_op:
        batch_op.drop_column("transaction_id")
        batch_op.drop_column("kind")
    op.drop_table("transaction_overrides")
