"""Sites, circuits and charger placement; tariffs with bands and dynamic prices; solar,
carbon and site meter series; driver profiles bound to id tags; session needs.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
PLACEMENT_COLUMNS = ("site_id", "circuit_id", "phases", "max_power_w", "phase_rotation")


def upgrade() -> None:
    op.create_table(
        "sites",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("grid_limit_w", sa.Float(), nullable=True),
        sa.Column("grid_limit_a", sa.Float(), nullable=True),
        sa.Column("phases", sa.Integer(), nullable=False),
        sa.Column("voltage", sa.Float(), nullable=False),
        sa.Column("safety_margin", sa.Float(), nullable=False),
        sa.Column("default_energy_wh", sa.Float(), nullable=False),
        sa.Column("default_departure", sa.Time(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sites")),
    )
    op.create_table(
        "circuits",
        sa.Column("site_id", sa.String(length=48), nullable=False),
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("parent_id", sa.String(length=48), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.Column("max_power_w", sa.Float(), nullable=True),
        sa.Column("max_current_a", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_circuits_site_id_sites"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["site_id", "parent_id"],
            ["circuits.site_id", "circuits.id"],
            name="fk_circuits_site_id_parent_id_circuits",
        ),
        sa.PrimaryKeyConstraint("site_id", "id", name=op.f("pk_circuits")),
    )
    _add_placement_columns()

    op.create_table(
        "tariffs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site_id", sa.String(length=48), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("import_price", sa.Float(), nullable=True),
        sa.Column("export_price", sa.Float(), nullable=True),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_tariffs_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tariffs")),
    )
    op.create_index(op.f("ix_tariffs_site_id"), "tariffs", ["site_id"])
    op.create_table(
        "tariff_bands",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tariff_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("start_time", sa.Time(), nullable=False),
        sa.Column("end_time", sa.Time(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("import_price", sa.Float(), nullable=False),
        sa.Column("export_price", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tariff_id"],
            ["tariffs.id"],
            name=op.f("fk_tariff_bands_tariff_id_tariffs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tariff_bands")),
    )
    op.create_index(
        op.f("ix_tariff_bands_tariff_id_position"), "tariff_bands", ["tariff_id", "position"]
    )
    op.create_table(
        "tariff_prices",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("tariff_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("import_price", sa.Float(), nullable=False),
        sa.Column("export_price", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tariff_id"],
            ["tariffs.id"],
            name=op.f("fk_tariff_prices_tariff_id_tariffs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tariff_prices")),
    )
    op.create_index(
        op.f("ix_tariff_prices_tariff_id_starts_at"), "tariff_prices", ["tariff_id", "starts_at"]
    )

    op.create_table(
        "series_points",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("site_id", sa.String(length=48), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_series_points_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_series_points")),
    )
    op.create_index(
        op.f("ix_series_points_site_id_kind_timestamp"),
        "series_points",
        ["site_id", "kind", "timestamp"],
    )

    op.create_table(
        "driver_profiles",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("max_power_w", sa.Float(), nullable=True),
        sa.Column("default_energy_wh", sa.Float(), nullable=True),
        sa.Column("default_departure", sa.Time(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_driver_profiles")),
    )
    op.create_table(
        "driver_id_tags",
        sa.Column("id_tag", sa.String(length=20), nullable=False),
        sa.Column("driver_profile_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["driver_profile_id"],
            ["driver_profiles.id"],
            name=op.f("fk_driver_id_tags_driver_profile_id_driver_profiles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["id_tag"],
            ["id_tags.id_tag"],
            name=op.f("fk_driver_id_tags_id_tag_id_tags"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id_tag", name=op.f("pk_driver_id_tags")),
    )
    op.create_index(
        op.f("ix_driver_id_tags_driver_profile_id"), "driver_id_tags", ["driver_profile_id"]
    )

    op.create_table(
        "session_needs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("transaction_id", sa.Integer(), nullable=True),
        sa.Column("id_tag", sa.String(length=20), nullable=True),
        sa.Column("energy_wh", sa.Float(), nullable=True),
        sa.Column("target_soc", sa.Float(), nullable=True),
        sa.Column("battery_wh", sa.Float(), nullable=True),
        sa.Column("departure", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["id_tag"],
            ["id_tags.id_tag"],
            name=op.f("fk_session_needs_id_tag_id_tags"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["transactions.id"],
            name=op.f("fk_session_needs_transaction_id_transactions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_needs")),
        sa.UniqueConstraint("id_tag", name=op.f("uq_session_needs_id_tag")),
        sa.UniqueConstraint("transaction_id", name=op.f("uq_session_needs_transaction_id")),
    )


def _add_placement_columns() -> None:
    """New nullable columns on charge_points, added in place: on SQLite a batch copy would
    drop and recreate the table, and dropping it cascades into connectors."""
    site_id = "fk_charge_points_site_id_sites"
    if op.get_bind().dialect.name == "sqlite":
        # SQLite adds a column with an inline REFERENCES clause, not a separate constraint.
        op.execute(
            "ALTER TABLE charge_points ADD COLUMN site_id VARCHAR(48) "
            f"CONSTRAINT {site_id} REFERENCES sites (id) ON DELETE SET NULL"
        )
    else:
        op.add_column("charge_points", sa.Column("site_id", sa.String(length=48), nullable=True))
        op.create_foreign_key(
            site_id, "charge_points", "sites", ["site_id"], ["id"], ondelete="SET NULL"
        )
    op.add_column("charge_points", sa.Column("circuit_id", sa.String(length=48), nullable=True))
    op.add_column("charge_points", sa.Column("phases", sa.Integer(), nullable=True))
    op.add_column("charge_points", sa.Column("max_power_w", sa.Float(), nullable=True))
    op.add_column("charge_points", sa.Column("phase_rotation", sa.String(length=16), nullable=True))
    op.create_index(op.f("ix_charge_points_site_id"), "charge_points", ["site_id"])


def downgrade() -> None:
    op.drop_table("session_needs")
    op.drop_index(op.f("ix_driver_id_tags_driver_profile_id"), table_name="driver_id_tags")
    op.drop_table("driver_id_tags")
    op.drop_table("driver_profiles")
    op.drop_index(op.f("ix_series_points_site_id_kind_timestamp"), table_name="series_points")
    op.drop_table("series_points")
    op.drop_index(op.f("ix_tariff_prices_tariff_id_starts_at"), table_name="tariff_prices")
    op.drop_table("tariff_prices")
    op.drop_index(op.f("ix_tariff_bands_tariff_id_position"), table_name="tariff_bands")
    op.drop_table("tariff_bands")
    op.drop_index(op.f("ix_tariffs_site_id"), table_name="tariffs")
    op.drop_table("tariffs")
    op.drop_index(op.f("ix_charge_points_site_id"), table_name="charge_points")
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint("fk_charge_points_site_id_sites", "charge_points", type_="foreignkey")
    for column in reversed(PLACEMENT_COLUMNS):
        # SQLite (3.35+) drops a plain column in place; a REFERENCES column too, once no
        # index names it.
        op.drop_column("charge_points", column)
    op.drop_table("circuits")
    op.drop_table("sites")
