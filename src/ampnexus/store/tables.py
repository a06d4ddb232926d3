"""The database schema. Alembic migrations under `migrations/` create exactly this."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    Time,
    TypeDecorator,
    UniqueConstraint,
    false,
    func,
)

# SQLite only auto-increments an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every backend (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

charge_points = Table(
    "charge_points",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("security_profile", Integer, nullable=False),
    Column("password_hash", String(255)),
    Column("description", Text),
    Column("registration_status", String(16), nullable=False),
    Column("vendor", String(20)),
    Column("model", String(20)),
    Column("serial_number", String(25)),
    Column("charge_box_serial_number", String(25)),
    Column("firmware_version", String(50)),
    Column("iccid", String(20)),
    Column("imsi", String(20)),
    Column("meter_type", String(25)),
    Column("meter_serial_number", String(25)),
    Column("heartbeat_interval", Integer),
    Column("last_boot", UtcDateTime),
    Column("last_seen", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    # Placement (migration 0002): where the charger hangs in a site's fuse tree.
    Column("site_id", String(48), ForeignKey("sites.id", ondelete="SET NULL"), index=True),
    Column("circuit_id", String(48)),  # of site_id; composite key kept by the service
    Column("phases", Integer),
    Column("max_power_w", Float),
    Column("phase_rotation", String(16)),
)

connectors = Table(
    "connectors",
    metadata,
    Column(
        "charge_point_id",
        String(255),
        ForeignKey("charge_points.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("connector_id", Integer, primary_key=True),
    Column("status", String(20), nullable=False),
    Column("error_code", String(30), nullable=False),
    Column("info", String(50)),
    Column("vendor_id", String(255)),
    Column("vendor_error_code", String(50)),
    Column("timestamp", UtcDateTime),
    Column("updated_at", UtcDateTime, nullable=False),
)

# Every StatusNotification as received: the history an operator reads at 2 a.m.
status_notifications = Table(
    "status_notifications",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("charge_point_id", String(255), nullable=False),
    Column("connector_id", Integer, nullable=False),
    Column("status", String(20), nullable=False),
    Column("error_code", String(30), nullable=False),
    Column("info", String(50)),
    Column("vendor_id", String(255)),
    Column("vendor_error_code", String(50)),
    Column("timestamp", UtcDateTime),
    Column("received_at", UtcDateTime, nullable=False),
    Index(None, "charge_point_id", "connector_id", "id"),
)

id_tags = Table(
    "id_tags",
    metadata,
    Column("id_tag", String(20), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("expiry_date", UtcDateTime),
    Column("parent_id_tag", String(20)),
    Column("description", Text),
    Column("created_at", UtcDateTime, nullable=False),
    # Set: the tag is valid on this charger only (its own tag, for plug & charge). No foreign
    # key: a tag outlives nothing it must not, as it authorises nowhere else.
    Column("charge_point_id", String(255)),
)
# OCPP id tags are case-insensitive (CiString20): one tag per spelling, found by any spelling
# in one indexed read (migration 0005). The tag keeps the spelling it was created with.
Index("uq_id_tags_lower_id_tag", func.lower(id_tags.c.id_tag), unique=True)

transactions = Table(
    "transactions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("charge_point_id", String(255), nullable=False),
    Column("connector_id", Integer, nullable=False),
    Column("id_tag", String(20), nullable=False),
    Column("meter_start", BigInteger, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("reservation_id", Integer),
    Column("stopped_at", UtcDateTime),
    Column("meter_stop", BigInteger),
    Column("stop_reason", String(20)),
    Column("stop_id_tag", String(20)),
    Column("created_at", UtcDateTime, nullable=False),
    # Answered a RemoteStartTransaction sent by the API or by plug & charge.
    Column("started_remotely", Boolean, nullable=False, server_default=false()),
    # Why the CSMS closed it itself (migration 0020); null when its charger stopped it.
    Column("stop_detail", Text),
    # A StartTransaction replayed after a reconnect must find its first copy.
    UniqueConstraint("charge_point_id", "connector_id", "id_tag", "meter_start", "started_at"),
    Index(None, "charge_point_id", "stopped_at"),
)

meter_values = Table(
    "meter_values",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("charge_point_id", String(255), nullable=False),
    Column("connector_id", Integer, nullable=False),
    Column("transaction_id", Integer),
    Column("timestamp", UtcDateTime, nullable=False),
    Column("value", Text, nullable=False),
    Column("number", Float),
    Column("measurand", String(40), nullable=False),
    Column("unit", String(20)),
    Column("phase", String(8)),
    Column("context", String(24)),
    Column("location", String(8)),
    Column("format", String(12)),
    Column("received_at", UtcDateTime, nullable=False),
    # Set only on readings refused because the charger named a transaction not its own (or
    # its own on another connector): what it claimed. Such rows have no transaction_id.
    Column("rejected_transaction_id", BigInteger),
    Index(None, "transaction_id", "timestamp"),
    Index(None, "charge_point_id", "timestamp"),
)

data_transfers = Table(
    "data_transfers",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("charge_point_id", String(255), nullable=False),
    Column("direction", String(8), nullable=False),
    Column("vendor_id", String(255), nullable=False),
    Column("message_id", String(50)),
    Column("data", Text),
    Column("status", String(20)),
    Column("received_at", UtcDateTime, nullable=False),
    Index(None, "charge_point_id", "id"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False),
    # read, operator or admin (migration 0004); a row written without one may only read
    Column("scope", String(16), nullable=False, server_default="read"),
    Column("prefix", String(16), nullable=False),
    Column("digest", String(64), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime),
    Column("last_used_at", UtcDateTime),
)


# --- sites, tariffs, series, drivers and needs (migration 0002) --------------------------------
sites = Table(
    "sites",
    metadata,
    Column("id", String(48), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("time_zone", String(64), nullable=False),
    Column("grid_limit_w", Float),
    Column("grid_limit_a", Float),
    Column("phases", Integer, nullable=False),
    Column("voltage", Float, nullable=False),
    Column("safety_margin", Float, nullable=False),
    Column("default_energy_wh", Float, nullable=False),
    Column("default_departure", Time, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("default_mode", String(32)),  # migration 0007; null: smart
)

# The fuse tree: circuit ids are unique within their site.
circuits = Table(
    "circuits",
    metadata,
    Column("site_id", String(48), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("id", String(48), nullable=False),
    Column("parent_id", String(48)),
    Column("name", String(100)),
    Column("max_power_w", Float),
    Column("max_current_a", Float),
    PrimaryKeyConstraint("site_id", "id"),
    ForeignKeyConstraint(
        ["site_id", "parent_id"],
        ["circuits.site_id", "circuits.id"],
        name="fk_circuits_site_id_parent_id_circuits",
    ),
)

tariffs = Table(
    "tariffs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("site_id", String(48), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("import_price", Float),
    Column("export_price", Float),
    Column("valid_from", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    Index(None, "site_id"),
)

tariff_bands = Table(
    "tariff_bands",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tariff_id", Integer, ForeignKey("tariffs.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("start_time", Time, nullable=False),
    Column("end_time", Time, nullable=False),
    Column("days", Integer, nullable=False),  # bit 0 Monday ... bit 6 Sunday
    Column("import_price", Float, nullable=False),
    Column("export_price", Float),
    Index(None, "tariff_id", "position"),
)

tariff_prices = Table(
    "tariff_prices",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("tariff_id", Integer, ForeignKey("tariffs.id", ondelete="CASCADE"), nullable=False),
    Column("starts_at", UtcDateTime, nullable=False),
    Column("ends_at", UtcDateTime, nullable=False),
    Column("import_price", Float, nullable=False),
    Column("export_price", Float),
    Index(None, "tariff_id", "starts_at"),
)

# Append-only: solar (measured, forecast), carbon intensity and site meter readings. Of two
# points with the same timestamp the newer (higher id) wins, so a new forecast replaces an old.
series_points = Table(
    "series_points",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("site_id", String(48), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("timestamp", UtcDateTime, nullable=False),
    Column("value", Float, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Index(None, "site_id", "kind", "timestamp"),
)

driver_profiles = Table(
    "driver_profiles",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False),
    Column("priority", String(16), nullable=False),
    Column("max_power_w", Float),
    Column("default_energy_wh", Float),
    Column("default_departure", Time),
    Column("created_at", UtcDateTime, nullable=False),
)

# A card has at most one driver; a driver may have several cards.
driver_id_tags = Table(
    "driver_id_tags",
    metadata,
    Column(
        "id_tag", String(20), ForeignKey("id_tags.id_tag", ondelete="CASCADE"), primary_key=True
    ),
    Column(
        "driver_profile_id",
        Integer,
        ForeignKey("driver_profiles.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
)

# What a driver needs, for one transaction or for an id tag's sessions; one each at most.
session_needs = Table(
    "session_needs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "transaction_id",
        Integer,
        ForeignKey("transactions.id", ondelete="CASCADE"),
        unique=True,
    ),
    Column("id_tag", String(20), ForeignKey("id_tags.id_tag", ondelete="CASCADE"), unique=True),
    Column("energy_wh", Float),
    Column("target_soc", Float),
    Column("battery_wh", Float),
    Column("departure", UtcDateTime),
    Column("updated_at", UtcDateTime, nullable=False),
)

# Open alerts are counted, not repeated: at most one open alert per (kind, charger, site).
alerts = Table(
    "alerts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("kind", String(40), nullable=False),
    Column("charge_point_id", String(255)),
    Column("site_id", String(48)),
    Column("severity", String(16), nullable=False),
    Column("message", Text, nullable=False),
    Column("details", JSON, nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("first_raised_at", UtcDateTime, nullable=False),
    Column("last_raised_at", UtcDateTime, nullable=False),
    Column("resolved_at", UtcDateTime),
    Index(None, "kind", "charge_point_id", "site_id", "resolved_at"),
    Index(None, "last_raised_at"),
)

# --- charging modes (migration 0007) -------------------------------------------------------------
# A charger's own mode and that mode's settings (JSON); no row: it follows its site's default.
charge_point_modes = Table(
    "charge_point_modes",
    metadata,
    Column(
        "charge_point_id",
        String(255),
        ForeignKey("charge_points.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("mode", String(32), nullable=False),
    Column("settings", JSON),
    Column("changed_by", String(100), nullable=False),
    Column("changed_at", UtcDateTime, nullable=False),
)

# Append-only audit trail of those settings. No foreign key: the trail outlives the charger.
charge_point_mode_history = Table(
    "charge_point_mode_history",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("charge_point_id", String(255), nullable=False),
    Column("changed_by", String(100), nullable=False),
    Column("changed_at", UtcDateTime, nullable=False),
    Column("before_mode", String(32)),
    Column("before_settings", JSON),
    Column("after_mode", String(32)),
    Column("after_settings", JSON),
    # Migration 0009: what the entry records (ChangeKind) and an override's session.
    Column("kind", String(24), nullable=False, server_default="mode"),
    Column("transaction_id", Integer),
    Index(None, "charge_point_id", "id"),
)

# "Charge now" on a running session (migration 0009): no peak windows, no random delay,
# until it ends. One row per overridden session; cancelling deletes it.
transaction_overrides = Table(
    "transaction_overrides",
    metadata,
    Column(
        "transaction_id",
        Integer,
        ForeignKey("transactions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("set_by", String(100), nullable=False),
    Column("set_at", UtcDateTime, nullable=False),
)

# --- operators' charging profiles (migration 0010) ----------------------------------------------
# What a charger accepted from an operator, kept by the charger's rules: one profile per id,
# and one per connector, purpose and stack level. The profile itself is JSON: only whole
# profiles are read or written.
operator_profiles = Table(
    "operator_profiles",
    metadata,
    Column(
        "charge_point_id",
        String(255),
        ForeignKey("charge_points.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("profile_id", Integer, nullable=False),
    Column("connector_id", Integer, nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("stack_level", Integer, nullable=False),
    Column("transaction_id", Integer),  # a TxProfile's; null for the others
    Column("profile", JSON, nullable=False),
    Column("set_at", UtcDateTime, nullable=False),
    Column("set_by", String(100)),
    PrimaryKeyConstraint("charge_point_id", "profile_id"),
    UniqueConstraint(
        "charge_point_id",
        "connector_id",
        "purpose",
        "stack_level",
        name="uq_operator_profiles_slot",  # the convention's name is too long for PostgreSQL
    ),
)

# --- the event feed and webhooks (migration 0011) ------------------------------------------------
# The outbox: every public event, written in the transaction of the change that caused it.
# `seq` orders the feed (the live stream's event ids); `uid` is the id receivers deduplicate
# by. `data` is the event's JSON as sent. Each event is handed to its subscriptions once
# (`fanned_out`): a delivery row per matching webhook.
feed_events = Table(
    "feed_events",
    metadata,
    Column("seq", BigId, primary_key=True, autoincrement=True),
    Column("uid", String(40), nullable=False, unique=True),
    Column("type", String(64), nullable=False),
    Column("charge_point_id", String(255)),
    Column("site_id", String(48)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("data", Text, nullable=False),
    Column("fanned_out", Boolean, nullable=False, server_default=false()),
    Index(None, "fanned_out", "seq"),
    Index(None, "created_at"),
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("url", Text, nullable=False),
    Column("events", JSON, nullable=False),  # patterns: exact types, `session.*` or `*`
    Column("site_ids", JSON),  # null: every site
    Column("description", String(200)),
    Column("enabled", Boolean, nullable=False),
    Column("secret", String(100), nullable=False),  # signs each delivery: kept to sign
    Column("created_at", UtcDateTime, nullable=False),
    Column("consecutive_failures", Integer, nullable=False, server_default="0"),
    Column("after_seq", BigInteger, nullable=False, server_default="0"),  # feed at creation
    Column("last_success_at", UtcDateTime),
    Column("last_failure_at", UtcDateTime),
    # Which process sends this webhook's deliveries now, and until when (a lease: one sender
    # per webhook at a time keeps its deliveries in order across processes).
    Column("lease_owner", String(64)),
    Column("lease_until", UtcDateTime),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("webhook_id", String(40), ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    Column(
        "event_seq", BigInteger, ForeignKey("feed_events.seq", ondelete="CASCADE"), nullable=False
    ),
    Column("status", String(16), nullable=False),  # pending, delivered, failed
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_attempt_at", UtcDateTime),
    Column("last_status_code", Integer),
    Column("last_error", Text),
    Column("last_duration_ms", Float),
    Column("delivered_at", UtcDateTime),
    Index(None, "webhook_id", "status", "event_seq"),
    Index(None, "status", "next_attempt_at"),
)


# --- portal users and their sessions (migration 0012) ------------------------------------------
users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(254), nullable=False, unique=True),  # lower-cased by the service
    Column("password_hash", String(255), nullable=False),  # scrypt$N$r$p$salt$digest
    Column("role", String(16), nullable=False),  # viewer, operator or admin
    Column("created_at", UtcDateTime, nullable=False),
    Column("disabled_at", UtcDateTime),
    Column("last_login_at", UtcDateTime),
)

portal_sessions = Table(
    "portal_sessions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column(
        "user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("digest", String(64), nullable=False, unique=True),  # SHA-256 of the cookie's token
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_seen_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False, index=True),
)


# --- demand response, OpenADR 2.0b (migration 0013) --------------------------------------------
# The programs AmpNexus takes part in as a VEN; `ven_id` is what the VTN assigned (null until
# it registered). Site ids and the SIMPLE levels' cuts are small lists: JSON.
dr_programs = Table(
    "dr_programs",
    metadata,
    Column("id", String(48), primary_key=True),
    Column("vtn_url", String(2048), nullable=False),
    Column("ven_name", String(255), nullable=False),
    Column("site_ids", JSON, nullable=False),
    Column("poll_interval_s", Integer, nullable=False),
    Column("opt_out", Boolean, nullable=False),
    Column("level_cuts", JSON, nullable=False),
    Column("ven_id", String(255)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("opt_out_site_ids", JSON, nullable=False),  # migration 0014: sites always out
    # Migration 0015: signed messages, the PEM files' paths (null: unsigned) and the VTN's
    # certificate fingerprint (null: its signatures are not checked).
    Column("cert_file", String(1024)),
    Column("key_file", String(1024)),
    Column("ca_file", String(1024)),
    Column("vtn_fingerprint", String(29)),
)

# Each event as of its newest modification; gone with its program. Intervals are JSON
# ([start, seconds, value] each); `start_at`/`end_at` span them, so the events still to
# come or in force are read by `end_at` alone.
dr_events = Table(
    "dr_events",
    metadata,
    Column(
        "program_id",
        String(48),
        ForeignKey("dr_programs.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("event_id", String(255), nullable=False),
    Column("modification_number", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("signal_name", String(64), nullable=False),
    Column("signal_type", String(64), nullable=False),
    Column("intervals", JSON, nullable=False),
    Column("site_ids", JSON, nullable=False),
    Column("opt", String(8), nullable=False),
    Column("opt_reason", String(64), nullable=False),
    Column("watts_per_unit", Float, nullable=False),
    Column("start_at", UtcDateTime),
    Column("end_at", UtcDateTime, index=True),
    Column("received_at", UtcDateTime, nullable=False),
    # Migration 0014: the targeted sites that opted out alone, [[site id, reason], ...].
    Column("opted_out_sites", JSON, nullable=False),
    PrimaryKeyConstraint("program_id", "event_id"),
)

# Reservations (migration 0017): the id is the OCPP reservationId. `state` as stored; an
# active one past `expires_at` reads as expired before the sweep stores it.
reservations = Table(
    "reservations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("charge_point_id", String(255), nullable=False),
    Column("connector_id", Integer, nullable=False),  # 0: any connector of the charger
    Column("id_tag", String(20), nullable=False),
    Column("parent_id_tag", String(20)),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("state", String(16), nullable=False),
    Column("answer", String(16)),  # the charger's ReserveNow answer
    Column("reason", String(200)),
    Column("transaction_id", Integer),
    Column("created_at", UtcDateTime, nullable=False),
    Column("ended_at", UtcDateTime),
    Index(None, "charge_point_id", "state"),
    Index(None, "state", "expires_at"),  # the sweep, and the next expiry
)


# --- local authorization lists (migration 0016) -------------------------------------------------
# Per charger: the list version it holds from us and that list's entries (JSON, read and
# written whole; null: not known, the next update is a full one), what it last answered.
local_lists = Table(
    "local_lists",
    metadata,
    Column(
        "charge_point_id",
        String(255),
        ForeignKey("charge_points.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("version", Integer, nullable=False),
    Column("held", JSON),
    Column("reported_version", Integer),
    Column("reported_at", UtcDateTime),
    Column("last_status", String(16)),
    Column("problem", Text),
    Column("unsupported", Boolean, nullable=False),
    Column("max_length", Integer),
    Column("left_out", JSON, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)


# --- firmware, diagnostics and logs (migration 0018) ---------------------------------------------
# Firmware images AmpNexus serves; the file itself lies in the data directory under its id.
firmware_files = Table(
    "firmware_files",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("token", String(64), nullable=False, unique=True),
    Column("uploaded_at", UtcDateTime, nullable=False),
)

firmware_rollouts = Table(
    "firmware_rollouts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("location", String(512), nullable=False),
    Column("signed", Boolean, nullable=False),
    Column("firmware_id", BigInteger),
    Column("created_at", UtcDateTime, nullable=False),
)

# One charger's UpdateFirmware or SignedUpdateFirmware; a signed one's requestId is its id.
firmware_updates = Table(
    "firmware_updates",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("charge_point_id", String(255), nullable=False),
    Column("rollout_id", BigInteger, ForeignKey("firmware_rollouts.id", ondelete="CASCADE")),
    Column("firmware_id", BigInteger),
    Column("location", String(512), nullable=False),
    Column("signed", Boolean, nullable=False),
    Column("retrieve_at", UtcDateTime, nullable=False),
    Column("install_at", UtcDateTime),
    Column("retries", Integer),
    Column("retry_interval", Integer),
    Column("signing_certificate", Text),
    Column("signature", Text),
    Column("state", String(16), nullable=False),
    Column("answer", String(20)),
    Column("last_status", String(32)),
    Column("problem", Text),
    Column("created_at", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime),
    Column("updated_at", UtcDateTime, nullable=False),
    Index(None, "charge_point_id", "id"),
    Index(None, "rollout_id"),
)

# GetDiagnostics and GetLog requests: the token in the upload URL, and what arrived there.
upload_requests = Table(
    "upload_requests",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("charge_point_id", String(255), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("token", String(64), nullable=False, unique=True),
    Column("answer", String(20)),
    Column("file_name", String(255)),
    Column("status", String(32)),
    Column("size", BigInteger),
    Column("sha256", String(64)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("uploaded_at", UtcDateTime),
    Index(None, "charge_point_id", "kind", "id"),
)

# Every firmware, diagnostics and log status notification, as received.
transfer_reports = Table(
    "transfer_reports",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("charge_point_id", String(255), nullable=False),
    Column("notification", String(40), nullable=False),
    Column("status", String(32), nullable=False),
    Column("subject_id", BigInteger),
    Column("received_at", UtcDateTime, nullable=False),
    Index(None, "charge_point_id", "notification", "id"),
)


# --- OCPP security extension (migration 0019) ----------------------------------------------
security_events = Table(
    "security_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("charge_point_id", String(255), nullable=False),
    Column("type", String(50), nullable=False),
    Column("timestamp", UtcDateTime, nullable=False),  # when the charger says it happened
    Column("tech_info", String(255)),
    Column("received_at", UtcDateTime, nullable=False),
    Index(None, "charge_point_id", "id"),
)

# Chargers' certificate signing requests, what was done with them and the charger's answer.
certificate_signings = Table(
    "certificate_signings",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("charge_point_id", String(255), nullable=False),
    Column("state", String(16), nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("csr", Text, nullable=False),
    Column("problem", Text),
    Column("certificate_chain", Text),
    Column("charger_status", String(20)),
    Column("answered_at", UtcDateTime),
    Index(None, "charge_point_id", "id"),
)
