"""Local authorization lists: per charger, the version and entries it holds from us.

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "local_lists",
        sa.Column("charge_point_id", sa.String(length=255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("held", sa.JSON(), nullable=True),
        sa.Column("reported_version", sa.Integer(), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.String(length=16), nullable=True),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.Column("unsupported", sa.Boolean(), nullable=False),
        sa.Column("max_length", sa.Integer(), nullable=True),
        sa.Column("left_out", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["charge_point_id"],
            ["charge_points.id"],
            name=op.f("fk_local_lists_charge_point_id_charge_points"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("charge_point_id", name=op.f("pk_local_lists")),
    )


def downgrade() -> None:
    op.drop_table("local_lists")
