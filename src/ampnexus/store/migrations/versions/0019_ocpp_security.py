"""OCPP security extension: chargers' security events and certificate signing requests.

Revision ID: 0019
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "security_events",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("charge_point_id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=50), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tech_info", sa.String(length=255), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_events")),
    )
    with op.batch_alter_table("security_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_security_events_charge_point_id_id"), ["charge_point_id", "id"]
        )
    op.create_table(
        "certificate_signings",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("charge_point_id", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("csr", sa.Text(), nullable=False),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.Column("certificate_chain", sa.Text(), nullable=True),
        sa.Column("charger_status", sa.String(length=20), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificate_signings")),
    )
    with op.batch_alter_table("certificate_signings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_certificate_signings_charge_point_id_id"), ["charge_point_id", "id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("certificate_signings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_certificate_signings_charge_point_id_id"))
    op.drop_table("certificate_signings")
    with op.batch_alter_table("security_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_security_events_charge_point_id_id"))
    op.drop_table("security_events")
