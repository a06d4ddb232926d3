"""One typed settings object, from AMPNEXUS_* environment variables and CLI options."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MiB = 1024 * 1024
DATABASE_FORMS = "sqlite:///PATH (an SQLite file) or postgresql://USER[:PASSWORD]@HOST[:PORT]/DB"


def default_database_url() -> str:
    return f"sqlite:///{Path('data') / 'ampnexus.sqlite3'}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AMPNEXUS_", extra="ignore")

    host: str = "0.0.0.0"
    ocpp_port: int = Field(9000, ge=0, le=65535)
    http_port: int = Field(8000, ge=0, le=65535)
    database_url: str = Field(default_factory=default_database_url)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    unknown_chargers: Literal["reject", "pending"] = "reject"
    heartbeat_interval: int = Field(300, ge=10, le=86400)
    command_timeout: float = Field(30.0, gt=0, le=600)
    profile_deadline: float = Field(
        5.0,
        gt=0,
        le=600,
        description="seconds a replan waits for a charger to answer its profile before "
        "withholding the increases and alerting (the command itself runs to command_timeout)",
    )
    replan_gap: float = Field(
        0.15,
        ge=0,
        le=60,
        description="least seconds between the end of a site's replan and the start of the "
        "next one that events asked for (events during a replan make one more replan)",
    )
    plan_slot_seconds: int = Field(900, ge=60, le=3600)
    plan_horizon_hours: int = Field(24, ge=1, le=168)
    replan_interval: float = Field(300.0, gt=0, description="seconds between timed replans")
    forecast_weeks: int = Field(
        4, ge=0, le=52, description="weeks of history behind expected sessions (0: no forecast)"
    )
    tls_cert: Path | None = Field(
        None, description="PEM certificate (chain) of both servers: wss:// and https:// (profile 2)"
    )
    tls_key: Path | None = Field(None, description="PEM private key of tls_cert, unencrypted")
    tls_ca: Path | None = Field(
        None, description="PEM CA that charger client certificates must chain to (profile 3)"
    )
    charger_ca_dir: Path | None = Field(
        None,
        description="directory of the CA AmpNexus manages to sign chargers' certificates "
        "(SignCertificate), made on first use; with TLS on, the certificates it signed admit "
        "profile 3 chargers. None: an external CA signs, CSRs are queued for the operator",
    )
    cpo_name: str | None = Field(
        None,
        max_length=64,
        description="the CPO name (CpoName) a charger's CSR must hold as its O; None: any O",
    )
    ocpp_plain_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="with TLS on, also serve plain ws:// here for profile 0/1 chargers (None: off)",
    )

    http_max_body_bytes: int = Field(
        1 * MiB, ge=1024, description="largest HTTP request body, bytes (larger: 413)"
    )
    http_max_bulk_body_bytes: int = Field(
        16 * MiB,
        ge=1024,
        description="largest body of the bulk uploads (a tariff's prices; a site's meter, "
        "solar and carbon series), bytes",
    )
    http_max_header_bytes: int = Field(
        16 * 1024, ge=1024, le=1 * MiB, description="largest HTTP request line and headers, bytes"
    )
    http_header_timeout: float = Field(
        10.0, gt=0, le=600, description="seconds a client has to send a whole request head"
    )
    http_keep_alive_timeout: float = Field(
        5.0, gt=0, le=600, description="seconds an idle HTTP keep-alive connection stays open"
    )
    http_max_connections: int = Field(
        1000, ge=1, description="concurrent HTTP connections or requests; more get 503"
    )

    data_dir: Path = Field(
        Path("data"),
        description="where AmpNexus keeps files: the firmware it serves, the diagnostics and "
        "logs chargers upload (under files/)",
    )
    files_url: str | None = Field(
        None,
        pattern=r"^https?://[^/?#]+(/[^?#]*)?$",
        description="the HTTP address chargers reach AmpNexus at, for firmware downloads and "
        "diagnostics uploads (e.g. http://csms.example:8000); None: the address the API "
        "request that sent the command came to",
    )
    firmware_max_bytes: int = Field(
        256 * MiB, ge=1024, description="largest firmware image the API takes, bytes"
    )
    upload_max_bytes: int = Field(
        64 * MiB, ge=1024, description="largest diagnostics or log file a charger may upload"
    )

    timestamp_max_ahead_hours: float = Field(
        24.0,
        gt=0,
        description="hours a charger's timestamp may lie ahead of the server's clock "
        "before the message is refused",
    )
    timestamp_max_age_days: float = Field(
        365.0,
        gt=0,
        description="days a charger's timestamp may lie behind the server's clock "
        "before the message is refused (offline sessions arrive late, 1970 never does)",
    )

    reading_margin: float = Field(
        1.25,
        ge=1.0,
        le=4.0,
        description="a charger's reported power above its maximum times this (or below 0) is "
        "ignored for planning and raises an implausible_reading alert",
    )

    # OCPP limits: one charger or one stranger must not starve the others (docs/security.md).
    ocpp_message_rate: float = Field(
        20.0, gt=0, description="frames per second one charger may send, on average"
    )
    ocpp_message_burst: int = Field(
        200, ge=1, description="frames one charger may send at once before the rate applies"
    )
    ocpp_throttled_disconnect_seconds: float = Field(
        60.0, gt=0, description="a charger throttled without pause this long is disconnected"
    )
    ocpp_max_message_bytes: int = Field(
        256 * 1024, ge=1024, description="largest inbound WebSocket message (bigger: close 1009)"
    )
    ocpp_max_sampled_values: int = Field(
        500, ge=1, description="sampled values one MeterValues or StopTransaction may carry"
    )
    ocpp_failed_upgrades_per_charger: int = Field(
        10, ge=1, description="failed upgrades for one charger id from one address per window"
    )
    ocpp_failed_upgrades_per_address: int = Field(
        30, ge=1, description="failed upgrades from one address (any id) per window"
    )
    ocpp_failed_upgrades_window: float = Field(
        60.0, gt=0, description="seconds over which failed upgrades are counted"
    )
    portal_failed_logins_per_account: int = Field(
        5, ge=1, description="failed portal sign-ins for one email from one address per window"
    )
    portal_failed_logins_per_address: int = Field(
        20, ge=1, description="failed portal sign-ins from one address (any email) per window"
    )
    portal_failed_logins_window: float = Field(
        900.0, gt=0, description="seconds over which failed portal sign-ins are counted"
    )
    session_update_interval: float = Field(
        60.0,
        ge=0,
        le=86400,
        description="least seconds between two session.updated events "
        "of one session (from its MeterValues)",
    )
    webhook_timeout: float = Field(
        10.0,
        gt=0,
        le=25,  # under the 30 s lease a process holds on a webhook while it posts
        description="seconds a webhook receiver has to answer a delivery",
    )
    webhook_retry_hours: float = Field(
        24.0, ge=1, le=720, description="hours after an event its failed deliveries are retried"
    )
    webhook_refuse_private: bool = Field(
        False,
        description="refuse webhook URLs on private, loopback or link-local addresses "
        "(for hosted deployments, where receivers are on the internet)",
    )
    local_list_sync: bool = Field(
        True,
        description="keep the local authorization list of every charger that has one in step "
        "with the id tags (asks each charger's list keys and version when it connects)",
    )
    event_retention_days: float = Field(
        7.0,
        gt=0,
        le=3650,
        description="days the event feed keeps delivered events (the "
        "live stream's resume and redeliveries reach this far back)",
    )

    @property
    def max_security_profile(self) -> int:
        """The highest OCPP security profile this configuration can serve."""
        if self.tls_cert is None:
            return 1
        client_ca = self.tls_ca is not None or self.charger_ca_dir is not None
        return 3 if client_ca else 2

    @field_validator("database_url")
    @classmethod
    def _a_database_we_speak(cls, url: str) -> str:
        scheme, _, rest = url.partition("://")
        dialect = scheme.split("+")[0]
        sqlite_file = dialect == "sqlite" and rest.startswith("/") and len(rest) > 1
        if sqlite_file or (dialect in ("postgresql", "postgres") and rest):
            return url
        shown = re.sub(r"(://[^/@:]*:)[^/@]*@", r"\1***@", url)  # no password echoed
        raise ValueError(f"expected {DATABASE_FORMS}, not {shown!r}")
