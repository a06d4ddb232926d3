"""Demand response: signed messages per program, the VEN's certificate, key and the VTN's
HTTPS CA (PEM files' paths) and the VTN's certificate fingerprint (issue 20).

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PATHS = ("cert_file", "key_file", "ca_file")


def upgrade() -> None:
    """Nullable: the programs from before stay unsigned."""
    with op.batch_alter_table("dr_programs", schema=None) as batch_op:
        for name in PATHS:
            batch_op.add_column(sa.Column(name, sa.String(1024), nullable=True))
        batch_op.add_column(sa.Column("vtn_fingerprint", sa.String(29), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dr_programs", schema=None) as batch_op:
        batch_op.drop_column("vtn_fingerprint")
        for name in reversed(PATHS):
            batch_op.drop_column(name)
