"""Operators' charging profiles: what each charger accepted through the API or with a remote
start, kept so smart charging plans under them (issue 17).

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "operator_profiles",
        sa.Column("charge_point_id", sa.String(length=255), nullable=False),
        sa.Column("profile_id", sa.Integer(), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("stack_level", sa.Integer(), nullable=False),
        sa.Column("transaction_id", sa.Integer(), nullable=True),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("set_by", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["charge_point_id"],
            ["charge_points.id"],
            name=op.f("fk_operator_profiles_charge_point_id_charge_points"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("charge_point_id", "profile_id", name=op.f("pk_operator_profiles")),
        sa.UniqueConstraint(
            "charge_point_id",
            "connector_id",
            "purpose",
            "stack_level",
            name="uq_operator_profiles_slot",
        ),
    )


def downgrade() -> None:
    op.drop_table("operator_profiles")
