"""Id tags compare case-insensitively (OCPP CiString20): one tag per spelling.

A unique index on lower(id_tag) refuses "abc123" beside "ABC123" and lets Authorize find
a tag by any spelling in one indexed read. A database that already holds two spellings of
one tag stops the upgrade with their names: which one to keep is the operator's call.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ampnexus.errors import StartupError

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "uq_id_tags_lower_id_tag"


def upgrade() -> None:
    clashes = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT id_tag FROM id_tags WHERE lower(id_tag) IN "
                "(SELECT lower(id_tag) FROM id_tags GROUP BY lower(id_tag) HAVING count(*) > 1) "
                "ORDER BY lower(id_tag), id_tag"
            )
        )
        .scalars()
        .all()
    )
    if clashes:
        raise StartupError(
            "id tags now compare case-insensitively, and these differ only in case: "
            f"{', '.join(clashes)}; keep one spelling of each (DELETE FROM id_tags WHERE "
            "id_tag = '...'), then run `ampnexus migrate` again"
        )
    op.create_index(INDEX, "id_tags", [sa.text("lower(id_tag)")], unique=True)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="id_tags")
