"""Reservations (OCPP 1.6 Reservation profile): ReserveNow and CancelReservation.

Revision ID: 0017
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "reservations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("charge_point_id", sa.String(length=255), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("id_tag", sa.String(length=20), nullable=False),
        sa.Column("parent_id_tag", sa.String(length=20), nullable=True),
        sa.Column("expires_at", When, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("answer", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("transaction_id", sa.Integer(), nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.Column("ended_at", When, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reservations")),
    )
    op.create_index(
        op.f("ix_reservations_charge_point_id_state"), "reservations", ["charge_point_id", "state"]
    )
    op.create_index(
        op.f("ix_reservations_state_expires_at"), "reservations", ["state", "expires_at"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_reservations_state_expires_at"), table_name="reservations")
    op.drop_index(op.f("ix_reservations_charge_point_id_state"), table_name="reservations")
    op.drop_table("reservations")
