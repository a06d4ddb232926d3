"""Id tags (RFID cards, app tokens) and the rule that decides whether one may charge."""

from __future__ import annotations

import hashlib
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
    # Set: valid on this charger only (a charger's own tag, for plug & charge).
    charge_point_id: str | None = None


@dataclass(frozen=True, slots=True)
class IdTagInfo:
    status: AuthorizationStatus
    expiry_date: datetime | None = None
    parent_id_tag: str | None = None


OWN_TAG_PREFIX = "PNC"
_OWN_TAG_DIGITS = 17  # with the prefix, 20 characters: OCPP's CiString20


def own_id_tag(charge_point_id: str) -> str:
    """The id tag a charger starts its plug & charge sessions with: the same for the same
    charger on every server, 68 bits of a hash so no two chargers share one by chance."""
    digest = hashlib.sha256(charge_point_id.encode()).hexdigest()
    return OWN_TAG_PREFIX + digest[:_OWN_TAG_DIGITS].upper()


def authorize(tag: IdTag | None, now: datetime, charge_point_id: str | None = None) -> IdTagInfo:
    """Unknown tags are Invalid; a stored Accepted tag past its expiry is Expired. A tag that
    belongs to one charger is Invalid on every other (and where the charger is unknown)."""
    if tag is None:
        return IdTagInfo(AuthorizationStatus.INVALID)
    if tag.charge_point_id is not None and tag.charge_point_id != charge_point_id:
        return IdTagInfo(AuthorizationStatus.INVALID)
    status = tag.status
    if status is AuthorizationStatus.ACCEPTED and tag.expiry_date and tag.expiry_date <= now:
        status = AuthorizationStatus.EXPIRED
    return IdTagInfo(status, tag.expiry_date, tag.parent_id_tag)
