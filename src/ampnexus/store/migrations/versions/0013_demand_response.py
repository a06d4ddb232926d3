"""Demand-response programs and their events (issue 20).

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "dr_programs",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("vtn_url", sa.String(length=2048), nullable=False),
        sa.Column("ven_name", sa.String(length=255), nullable=False),
        sa.Column("site_ids", sa.JSON(), nullable=False),
        sa.Column("poll_interval_s", sa.Integer(), nullable=False),
        sa.Column("opt_out", sa.Boolean(), nullable=False),
        sa.Column("level_cuts", sa.JSON(), nullable=False),
        sa.Column("ven_id", sa.String(length=255), nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.Column("updated_at", When, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dr_programs")),
    )
    op.create_table(
        "dr_events",
        sa.Column("program_id", sa.String(length=48), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("modification_number", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("signal_name", sa.String(length=64), nullable=False),
        sa.Column("signal_type", sa.String(length=64), nullable=False),
        sa.Column("intervals", sa.JSON(), nullable=False),
        sa.Column("site_ids", sa.JSON(), nullable=False),
        sa.Column("opt", sa.String(length=8), nullable=False),
        sa.Column("opt_reason", sa.String(length=64), nullable=False),
        sa.Column("watts_per_unit", sa.Float(), nullable=False),
        sa.Column("start_at", When, nullable=True),
        sa.Column("end_at", When, nullable=True),
        sa.Column("received_at", When, nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["dr_programs.id"],
            name=op.f("fk_dr_events_program_id_dr_programs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("program_id", "event_id", name=op.f("pk_dr_events")),
    )
    op.create_index(op.f("ix_dr_events_end_at"), "dr_events", ["end_at"])


def downgrade() -> None:
    op.drop_table("dr_events")
    op.drop_table("dr_programs")
