"""Webhook subscriptions and their deliveries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # not yet delivered: waiting for its turn or its next attempt
    DELIVERED = "delivered"  # the receiver answered 2xx
    FAILED = "failed"  # given up after the retry window


@dataclass(frozen=True, slots=True)
class Webhook:
    id: str
    url: str
    events: tuple[str, ...]  # exact types, `prefix.*` or `*`
    site_ids: tuple[str, ...] | None  # None: every site
    description: str | None
    enabled: bool
    secret: str
    created_at: datetime
    consecutive_failures: int = 0
    last_success_at: datetime | None = None
    last_failure_at: datetime | None = None
    after_seq: int = 0  # it gets the feed's events after this one (those since its creation)


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    webhook_id: str
    event_seq: int
    event_uid: str
    event_type: str
    status: DeliveryStatus
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    last_attempt_at: datetime | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    last_duration_ms: float | None = None
    delivered_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one POST to a receiver came to."""

    status_code: int | None  # None: no answer (refused, timed out, ...)
    error: str | None
    duration_ms: float

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
