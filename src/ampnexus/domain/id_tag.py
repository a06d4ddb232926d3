"""Id tags (RFID cards, app tokens) and the rule that decides whether one may charge."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class AuthorizationStatus(StrEnum):
    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"
    CONCURRENT_TX = "ConcurrentTx"


@dataclass(frozen=True, slots=True)
class IdTag:
    id_tag: str
    status: AuthorizationStatus = AuthorizationStatus.ACCEPTED
    expiry_date: datetime | None = None
    parent_id_tag: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class IdTagInfo:
    status: AuthorizationStatus
    expiry_date: datetime | None = None
    parent_id_tag: str | None = None


def authorize(tag: IdTag | None, now: datetime) -> IdTagInfo:
    """Unknown tags are Invalid; a stored Accepted tag past its expiry is Expired."""
    if tag is None:
        return IdTagInfo(AuthorizationStatus.INVALID)
    status = tag.status
    if status is AuthorizationStatus.ACCEPTED and tag.expiry_date and tag.expiry_date <= now:
        status = AuthorizationStatus.EXPIRED
    return IdTagInfo(status, tag.expiry_date, tag.parent_id_tag)
