"""Alerts: something an operator should look at, raised by the services.

An alert has a key (its kind, charger and site). While it is open, the same problem
raised again counts on the same alert rather than adding one per occurrence, so a charger
repeating a bad message a thousand times makes one alert with a count of 1,000.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class AlertKind(StrEnum):
    FOREIGN_TRANSACTION = "foreign_transaction"  # a charger named a transaction not its own
    CONNECTOR_MISMATCH = "connector_mismatch"  # its own transaction, on another connector
    IMPLAUSIBLE_READING = "implausible_reading"  # a value outside physical bounds
    IMPLAUSIBLE_SESSION = "implausible_session"  # a session the planner cannot use as sent
    REPLAN_FAILED = "replan_failed"  # a site keeps its last good plan
    CHARGER_SILENT = "charger_silent"  # no answer to a profile within the planning deadline
    CHARGER_REFUSES_PROFILES = "charger_refuses_profiles"  # planned at its maximum meanwhile
    SESSION_STOPPED = "session_stopped"  # stopped to keep its site within its limit
    WEBHOOK_FAILING = "webhook_failing"  # a receiver keeps failing: its deliveries wait
    LOCAL_LIST_TRUNCATED = "local_list_truncated"  # more id tags than a charger's list holds
    FIRMWARE_FAILED = "firmware_failed"  # a firmware update failed to download or install
    FIRMWARE_REJECTED = "firmware_rejected"  # a charger deemed a firmware not authentic
    SECURITY_EVENT = "security_event"  # a charger reported a critical security event


class Severity(StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class AlertKey:
    kind: AlertKind
    charge_point_id: str | None = None
    site_id: str | None = None


@dataclass(frozen=True, slots=True)
class Alert:
    id: int
    key: AlertKey
    severity: Severity
    message: str
    first_raised_at: datetime
    last_raised_at: datetime
    count: int = 1
    details: dict[str, Any] = field(default_factory=dict)
    resolved_at: datetime | None = None

    @property
    def open(self) -> bool:
        return self.resolved_at is None
