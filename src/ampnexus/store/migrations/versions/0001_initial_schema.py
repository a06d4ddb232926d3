"""Initial schema: charge points, connectors, status history, id tags, transactions,
meter values, data transfers and API keys.

Revision ID: 0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("digest", name=op.f("uq_api_keys_digest")),
    )
    op.create_table(
        "charge_points",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("security_profile", sa.Integer(), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("registration_status", sa.String(length=16), nullable=False),
        sa.Column("vendor", sa.String(length=20), nullable=True),
        sa.Column("model", sa.String(length=20), nullable=True),
        sa.Column("serial_number", sa.String(length=25), nullable=True),
        sa.Column("charge_box_serial_number", sa.String(length=25), nullable=True),
        sa.Column("firmware_version", sa.String(length=50), nullable=True),
        sa.Column("iccid", sa.String(length=20), nullable=True),
        sa.Column("imsi", sa.String(length=20), nullable=True),
        sa.Column("meter_type", sa.String(length=25), nullable=True),
        sa.Column("meter_serial_number", sa.String(length=25), nullable=True),
        sa.Column("heartbeat_interval", sa.Integer(), nullable=True),
        sa.Column("last_boot", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charge_points")),
    )
    op.create_table(
        "data_transfers",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("charge_point_id", sa.String(length=255), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("vendor_id", sa.String(length=255), nullable=False),
        sa.Column("message_id", sa.String(length=50), nullable=True),
        sa.Column("data", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_transfers")),
    )
    with op.batch_alter_table("data_transfers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_data_transfers_charge_point_id_id"),
            ["charge_point_id", "id"],
            unique=False,
        )

    op.create_table(
        "id_tags",
        sa.Column("id_tag", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expiry_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("parent_id_tag", sa.String(length=20), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id_tag", name=op.f("pk_id_tags")),
    )
    op.create_table(
        "meter_values",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("charge_point_id", sa.String(length=255), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("transaction_id", sa.Integer(), nullable=True),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("number", sa.Float(), nullable=True),
        sa.Column("measurand", sa.String(length=40), nullable=False),
        sa.Column("unit", sa.String(length=20), nullable=True),
        sa.Column("phase", sa.String(length=8), nullable=True),
        sa.Column("context", sa.String(length=24), nullable=True),
        sa.Column("location", sa.String(length=8), nullable=True),
        sa.Column("format", sa.String(length=12), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meter_values")),
    )
    with op.batch_alter_table("meter_values", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_meter_values_charge_point_id_timestamp"),
            ["charge_point_id", "timestamp"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_meter_values_transaction_id_timestamp"),
            ["transaction_id", "timestamp"],
            unique=False,
        )

    op.create_table(
        "status_notifications",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("charge_point_id", sa.String(length=255), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("error_code", sa.String(length=30), nullable=False),
        sa.Column("info", sa.String(length=50), nullable=True),
        sa.Column("vendor_id", sa.String(length=255), nullable=True),
        sa.Column("vendor_error_code", sa.String(length=50), nullable=True),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_notifications")),
    )
    with op.batch_alter_table("status_notifications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_status_notifications_charge_point_id_connector_id_id"),
            ["charge_point_id", "connector_id", "id"],
            unique=False,
        )

    op.create_table(
        "transactions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("charge_point_id", sa.String(length=255), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("id_tag", sa.String(length=20), nullable=False),
        sa.Column("meter_start", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reservation_id", sa.Integer(), nullable=True),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("meter_stop", sa.BigInteger(), nullable=True),
        sa.Column("stop_reason", sa.String(length=20), nullable=True),
        sa.Column("stop_id_tag", sa.String(length=20), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transactions")),
        sa.UniqueConstraint(
            "charge_point_id",
            "connector_id",
            "id_tag",
            "meter_start",
            "started_at",
            name=op.f("uq_transactions_charge_point_id_connector_id_id_tag_meter_start_started_at"),
        ),
    )
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_transactions_charge_point_id_stopped_at"),
            ["charge_point_id", "stopped_at"],
            unique=False,
        )

    op.create_table(
        "connectors",
        sa.Column("charge_point_id", sa.String(length=255), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("error_code", sa.String(length=30), nullable=False),
        sa.Column("info", sa.String(length=50), nullable=True),
        sa.Column("vendor_id", sa.String(length=255), nullable=True),
        sa.Column("vendor_error_code", sa.String(length=50), nullable=True),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["charge_point_id"],
            ["charge_points.id"],
            name=op.f("fk_connectors_charge_point_id_charge_points"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("charge_point_id", "connector_id", name=op.f("pk_connectors")),
    )


def downgrade() -> None:
    op.drop_table("connectors")
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transactions_charge_point_id_stopped_at"))

    op.drop_table("transactions")
    with op.batch_alter_table("status_notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_status_notifications_charge_point_id_connector_id_id"))

    op.drop_table("status_notifications")
    with op.batch_alter_table("meter_values", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meter_values_transaction_id_timestamp"))
        batch_op.drop_index(batch_op.f("ix_meter_values_charge_point_id_timestamp"))

    op.drop_table("meter_values")
    op.drop_table("id_tags")
    with op.batch_alter_table("data_transfers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_data_transfers_charge_point_id_id"))

    op.drop_table("data_transfers")
    op.drop_table("charge_points")
    op.drop_table("api_keys")
