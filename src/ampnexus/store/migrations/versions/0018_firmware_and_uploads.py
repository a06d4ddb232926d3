"""Firmware files, updates and rollouts; diagnostics and log upload requests; and the
status notifications chargers send about them.

Revision ID: 0018
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

When = sa.DateTime(timezone=True)
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "firmware_files",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("uploaded_at", When, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_firmware_files")),
        sa.UniqueConstraint("token", name=op.f("uq_firmware_files_token")),
    )
    op.create_table(
        "firmware_rollouts",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("location", sa.String(length=512), nullable=False),
        sa.Column("signed", sa.Boolean(), nullable=False),
        sa.Column("firmware_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_firmware_rollouts")),
    )
    op.create_table(
        "firmware_updates",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("charge_point_id", sa.String(length=255), nullable=False),
        sa.Column("rollout_id", sa.BigInteger(), nullable=True),
        sa.Column("firmware_id", sa.BigInteger(), nullable=True),
        sa.Column("location", sa.String(length=512), nullable=False),
        sa.Column("signed", sa.Boolean(), nullable=False),
        sa.Column("retrieve_at", When, nullable=False),
        sa.Column("install_at", When, nullable=True),
        sa.Column("retries", sa.Integer(), nullable=True),
        sa.Column("retry_interval", sa.Integer(), nullable=True),
        sa.Column("signing_certificate", sa.Text(), nullable=True),
        sa.Column("signature", sa.Text(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("answer", sa.String(length=20), nullable=True),
        sa.Column("last_status", sa.String(length=32), nullable=True),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.Column("sent_at", When, nullable=True),
        sa.Column("updated_at", When, nullable=False),
        sa.ForeignKeyConstraint(
            ["rollout_id"],
            ["firmware_rollouts.id"],
            name=op.f("fk_firmware_updates_rollout_id_firmware_rollouts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_firmware_updates")),
    )
    op.create_index(
        op.f("ix_firmware_updates_charge_point_id_id"),
        "firmware_updates",
        ["charge_point_id", "id"],
    )
    op.create_index(op.f("ix_firmware_updates_rollout_id"), "firmware_updates", ["rollout_id"])
    op.create_table(
        "upload_requests",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("charge_point_id", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("answer", sa.String(length=20), nullable=True),
        sa.Column("file_name", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.Column("uploaded_at", When, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upload_requests")),
        sa.UniqueConstraint("token", name=op.f("uq_upload_requests_token")),
    )
    op.create_index(
        op.f("ix_upload_requests_charge_point_id_kind_id"),
        "upload_requests",
        ["charge_point_id", "kind", "id"],
    )
    op.create_table(
        "transfer_reports",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("charge_point_id", sa.String(length=255), nullable=False),
        sa.Column("notification", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.BigInteger(), nullable=True),
        sa.Column("received_at", When, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfer_reports")),
    )
    op.create_index(
        op.f("ix_transfer_reports_charge_point_id_notification_id"),
        "transfer_reports",
        ["charge_point_id", "notification", "id"],
    )


def downgrade() -> None:
    op.drop_table("transfer_reports")
    op.drop_table("upload_requests")
    op.drop_table("firmware_updates")
    op.drop_table("firmware_rollouts")
    op.drop_table("firmware_files")
