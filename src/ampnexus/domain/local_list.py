"""A charger's Local Authorization List (OCPP 1.6 Local Auth List Management): which id tags
it should hold, what changed since it was last sent, and the updates that carry it there.

The list a charger should hold is made from the operator's id tags: every tag valid on it
(a charger's own tag only on that charger), with its status, expiry and parent. When the
charger can hold fewer than that, the tags that let a driver charge come first: valid ones,
then the refusals (a blocked card stays refused offline), then tags already past their
expiry (the charger would refuse those anyway); alphabetical within each group.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from ampnexus.domain.id_tag import AuthorizationStatus, IdTag, IdTagInfo

PROFILE = "LocalAuthListManagement"  # in SupportedFeatureProfiles when a charger has one
LIMIT_KEYS = ("SupportedFeatureProfiles", "LocalAuthListMaxLength", "SendLocalListMaxLength")


class UpdateType(StrEnum):
    FULL = "Full"
    DIFFERENTIAL = "Differential"


class UpdateStatus(StrEnum):
    ACCEPTED = "Accepted"
    FAILED = "Failed"
    NOT_SUPPORTED = "NotSupported"
    VERSION_MISMATCH = "VersionMismatch"


class ListState(StrEnum):
    IN_SYNC = "in_sync"
    PENDING = "pending"  # changes not sent yet (being sent, or the charger is offline)
    FAILED = "failed"  # the last send failed: the next one is a full list
    UNSUPPORTED = "unsupported"  # the charger has no local list


@dataclass(frozen=True, slots=True)
class ListEntry:
    """One AuthorizationData: `info` None in a differential update removes the tag."""

    id_tag: str
    info: IdTagInfo | None


@dataclass(frozen=True, slots=True)
class ListUpdate:
    version: int
    kind: UpdateType
    entries: tuple[ListEntry, ...]


@dataclass(frozen=True, slots=True)
class ListVersion:
    """A GetLocalListVersion answer: 0 for an empty list, -1 when the charger has none."""

    version: int
    as_sent: Mapping[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class ListLimits:
    """What the charger said of its list (GetConfiguration); None where it did not say."""

    supported: bool | None = None
    max_length: int | None = None  # LocalAuthListMaxLength: what it can hold
    send_max: int | None = None  # SendLocalListMaxLength: entries per SendLocalList

    @classmethod
    def of(cls, values: Mapping[str, str]) -> ListLimits:
        profiles = values.get("SupportedFeatureProfiles")
        supported = None if profiles is None else PROFILE in _words(profiles)
        return cls(
            supported,
            _count(values.get("LocalAuthListMaxLength"), least=0),
            _count(values.get("SendLocalListMaxLength"), least=1),
        )


@dataclass(frozen=True, slots=True)
class LocalList:
    """What is known of one charger's list: the version it holds from us and what that list
    holds (`held` None: not known, so the next update is a full one)."""

    charge_point_id: str
    version: int = 0
    held: tuple[ListEntry, ...] | None = None
    reported_version: int | None = None  # its answer to GetLocalListVersion
    reported_at: datetime | None = None
    last_status: UpdateStatus | None = None  # its answer to the last SendLocalList
    problem: str | None = None  # why the last sync failed
    unsupported: bool = False
    max_length: int | None = None
    left_out: tuple[str, ...] = ()  # tags that did not fit in max_length
    updated_at: datetime | None = None


def entry_of(tag: IdTag) -> ListEntry:
    return ListEntry(tag.id_tag, IdTagInfo(tag.status, tag.expiry_date, tag.parent_id_tag))


def wanted_entries(tags: Iterable[IdTag], charge_point_id: str) -> list[ListEntry]:
    """The tags the charger should know: all but other chargers' own tags."""
    return [
        entry_of(tag)
        for tag in tags
        if tag.charge_point_id is None or tag.charge_point_id == charge_point_id
    ]


def fit(
    entries: Sequence[ListEntry], max_length: int | None, now: datetime
) -> tuple[list[ListEntry], list[str]]:
    """The entries to send within `max_length` and the tags left out (module docstring)."""
    ranked = sorted(entries, key=lambda entry: (_rank(entry, now), key_of(entry.id_tag)))
    if max_length is None or len(ranked) <= max_length:
        return ranked, []
    return ranked[:max_length], sorted(e.id_tag for e in ranked[max_length:])


def _rank(entry: ListEntry, now: datetime) -> int:
    info = entry.info
    if info is None:
        return 3
    expired = info.expiry_date is not None and info.expiry_date <= now
    if info.status is AuthorizationStatus.ACCEPTED and not expired:
        return 0
    return 2 if expired or info.status is AuthorizationStatus.EXPIRED else 1


def differential(held: Sequence[ListEntry], wanted: Sequence[ListEntry]) -> list[ListEntry]:
    """What turns `held` into `wanted`: entries added or changed, and removals (no info) for
    tags no longer wanted. Id tags compare case-insensitively (CiString20)."""
    before = {key_of(entry.id_tag): entry for entry in held}
    after = {key_of(entry.id_tag): entry for entry in wanted}
    changed = [entry for key, entry in after.items() if before.get(key) != entry]
    removed = [ListEntry(entry.id_tag, None) for key, entry in before.items() if key not in after]
    return changed + removed


def apply(held: Sequence[ListEntry], update: ListUpdate) -> tuple[ListEntry, ...]:
    """The list a charger holds after accepting `update`."""
    merged = {} if update.kind is UpdateType.FULL else {key_of(e.id_tag): e for e in held}
    for entry in update.entries:
        if entry.info is None:
            merged.pop(key_of(entry.id_tag), None)
        else:
            merged[key_of(entry.id_tag)] = entry
    return tuple(merged.values())


def full_updates(
    entries: Sequence[ListEntry], after_version: int, send_max: int | None
) -> list[ListUpdate]:
    """A full list in sends of at most `send_max`: the first replaces the list, the others
    add to it, each with the next version (a charger refuses a differential update whose
    version is not above its own). An empty list is one full send that clears it."""
    chunks = _chunks(entries, send_max) or [()]
    return [
        ListUpdate(
            after_version + index + 1,
            UpdateType.FULL if index == 0 else UpdateType.DIFFERENTIAL,
            chunk,
        )
        for index, chunk in enumerate(chunks)
    ]


def differential_updates(
    changes: Sequence[ListEntry], after_version: int, send_max: int | None
) -> list[ListUpdate]:
    return [
        ListUpdate(after_version + index + 1, UpdateType.DIFFERENTIAL, chunk)
        for index, chunk in enumerate(_chunks(changes, send_max))
    ]


def _chunks(entries: Sequence[ListEntry], size: int | None) -> list[tuple[ListEntry, ...]]:
    step = size or max(len(entries), 1)
    return [tuple(entries[start : start + step]) for start in range(0, len(entries), step)]


def key_of(id_tag: str) -> str:
    """Only ASCII is folded: as the id tag cache does (services/authorization.py)."""
    return id_tag.lower() if id_tag.isascii() else id_tag


def _words(text: str) -> set[str]:
    return {word.strip() for word in text.split(",")}


def _count(text: str | None, least: int) -> int | None:
    """A number the charger gave, None if it gave none or one that makes no sense."""
    try:
        value = int(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and value >= least else None
