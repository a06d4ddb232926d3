"""One typed settings object, from AMPNEXUS_* environment variables and CLI options."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    plan_slot_seconds: int = Field(900, ge=60, le=3600)
    plan_horizon_hours: int = Field(24, ge=1, le=168)
    replan_interval: float = Field(300.0, gt=0, description="seconds between timed replans")
    forecast_weeks: int = Field(
        4, ge=0, le=52, description="weeks of history behind expected sessions (0: no forecast)"
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
