"""Charging modes: each charger's own mode with its settings, their audit trail, and a
site's default_mode (null: smart, what AmpNexus did before).

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.add_column(sa.Column("default_mode", sa.String(length=32), nullable=True))
    op.create_table(
        "charge_point_modes",
        sa.Column("charge_point_id", sa.String(length=255), nullable=False),
        sa.Column("mode", sa.String(length=32), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=True),
        sa.Column("changed_by", sa.String(length=100), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["charge_point_id"],
            ["charge_points.id"],
            name=op.f("fk_charge_point_modes_charge_point_id_charge_points"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("charge_point_id", name=op.f("pk_charge_point_modes")),
    )
    op.create_table(
        "charge_point_mode_history",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("charge_point_id", sa.String(length=255), nullable=False),
        sa.Column("changed_by", sa.String(length=100), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("before_mode", sa.String(length=32), nullable=True),
        sa.Column("before_settings", sa.JSON(), nullable=True),
        sa.Column("after_mode", sa.String(length=32), nullable=True),
        sa.Column("after_settings", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charge_point_mode_history")),
    )
    op.create_index(
        op.f("ix_charge_point_mode_history_charge_point_id_id"),
        "charge_point_mode_history",
        ["charge_point_id", "id"],
    )


def downgrade() -> None:
    op.drop_table("charge_point_mode_history")
    op.drop_table("charge_point_modes")
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.drop_column("default_mode")
