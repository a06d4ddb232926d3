"""Demand response: sites that always opt out of a program's events, and the sites that
opted out of each event alone, with why (issue 20).

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NONE = sa.text("'[]'")  # rows from before: no site opted out


def upgrade() -> None:
    with op.batch_alter_table("dr_programs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("opt_out_site_ids", sa.JSON(), nullable=False, server_default=NONE)
        )
    with op.batch_alter_table("dr_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("opted_out_sites", sa.JSON(), nullable=False, server_default=NONE)
        )


def downgrade() -> None:
    with op.batch_alter_table("dr_events", schema=None) as batch_op:
        batch_op.drop_column("opted_out_sites")
    with op.batch_alter_table("dr_programs", schema=None) as batch_op:
        batch_op.drop_column("opt_out_site_ids")
