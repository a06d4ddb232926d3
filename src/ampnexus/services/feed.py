"""The public event feed: what integrators see of the domain events, and the live stream.

Each domain event that concerns integrators becomes one or more public events: a type
(`session.started`, ...), a stable id to deduplicate by, when it happened, and its data as
JSON. They are stored in an outbox table written in the same transaction as the change
that caused them (the stores take them with the change), so a crash never keeps a change
and loses its event. Events that come from no stored change (a connection, a replan) are
recorded here, as their own write. Webhooks deliver the feed; `GET /api/v1/events`
streams it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from ampnexus.domain.events import (
    AlertRaised,
    ChargerConnected,
    ChargerDisconnected,
    ConnectorStatusChanged,
    DemandResponseEventEnded,
    DemandResponseEventReceived,
    PlanUpdated,
    SecurityEventReported,
    SessionProgressed,
    TransactionStarted,
    TransactionStopped,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

# Every public event type, and what it means (the OpenAPI document lists their payloads).
EVENT_TYPES: dict[str, str] = {
    "charge_point.connected": "A charger opened its OCPP connection",
    "charge_point.disconnected": "A charger's OCPP connection closed",
    "charge_point.status_changed": "A connector reported its status (StatusNotification)",
    "charge_point.faulted": "A connector reported Faulted",
    "session.started": "A charging session started (StartTransaction)",
    "session.updated": "A running session's energy and power, at most every "
    "AMPNEXUS_SESSION_UPDATE_INTERVAL seconds",
    "session.stopped": "A charging session ended (StopTransaction)",
    "plan.updated": "A site was replanned: each session's planned power, energy and cost",
    "alert.raised": "An alert was opened",
    "charge_point.security_event": "A charger reported a security event "
    "(SecurityEventNotification); `critical` as the OCPP security whitepaper lists them",
    "grid.event_received": "A demand-response event (OpenADR) for a site was received, "
    "modified or cancelled, and answered",
    "grid.event_ended": "An opted-in demand-response event for a site ended",
}


@dataclass(frozen=True, slots=True)
class FeedEntry:
    uid: str
    type: str
    created_at: datetime
    charge_point_id: str | None
    site_id: str | None
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A feed event as stored: `seq` orders the feed, `data` is its JSON text."""

    seq: int
    uid: str
    type: str
    created_at: datetime
    site_id: str | None  # the event's site, or its charger's
    data: str


# What a write records with its result: the domain events it caused.
Announce = Callable[[T], Sequence[object]]


def entries(events: Iterable[object]) -> list[FeedEntry]:
    """The public events of these domain events (none for events integrators don't see)."""
    out: list[FeedEntry] = []
    for event in events:
        mapper = _MAPPERS.get(type(event))
        if mapper is not None:
            out.extend(mapper(event))
    return out


def _entry(
    type_: str, at: datetime, data: dict[str, Any], cp: str | None = None, site: str | None = None
) -> FeedEntry:
    return FeedEntry(uuid.uuid4().hex, type_, at, cp, site, data)


def _iso(at: datetime) -> str:
    return at.isoformat()


def _connection(event: ChargerConnected | ChargerDisconnected) -> list[FeedEntry]:
    kind = "connected" if isinstance(event, ChargerConnected) else "disconnected"
    data = {"charge_point_id": event.charge_point_id, "at": _iso(event.at)}
    return [_entry(f"charge_point.{kind}", event.at, data, event.charge_point_id)]


def _status(event: ConnectorStatusChanged) -> list[FeedEntry]:
    data = {
        "charge_point_id": event.charge_point_id,
        "connector_id": event.connector_id,
        "status": event.status,
        "error_code": event.error_code,
        "info": event.info,
        "vendor_error_code": event.vendor_error_code,
        "at": _iso(event.at),
    }
    out = [_entry("charge_point.status_changed", event.at, data, event.charge_point_id)]
    if event.status == "Faulted":
        out.append(_entry("charge_point.faulted", event.at, dict(data), event.charge_point_id))
    return out


def _started(event: TransactionStarted) -> list[FeedEntry]:
    data = {
        "transaction_id": event.transaction_id,
        "charge_point_id": event.charge_point_id,
        "connector_id": event.connector_id,
        "id_tag": event.id_tag,
        "meter_start_wh": event.meter_start_wh,
        "started_at": _iso(event.at),
        "started_remotely": event.remote_set_by is not None or event.remote_profile is not None,
    }
    return [_entry("session.started", event.at, data, event.charge_point_id)]


def _progressed(event: SessionProgressed) -> list[FeedEntry]:
    data = {
        "transaction_id": event.transaction_id,
        "charge_point_id": event.charge_point_id,
        "connector_id": event.connector_id,
        "energy_wh": event.energy_wh,
        "power_w": event.power_w,
        "at": _iso(event.at),
    }
    return [_entry("session.updated", event.at, data, event.charge_point_id)]


def _stopped(event: TransactionStopped) -> list[FeedEntry]:
    data = {
        "transaction_id": event.transaction_id,
        "charge_point_id": event.charge_point_id,
        "connector_id": event.connector_id,
        "stopped_at": _iso(event.at),
        "meter_stop_wh": event.meter_stop_wh,
        "energy_wh": event.energy_wh,
        "reason": event.reason,
    }
    return [_entry("session.stopped", event.at, data, event.charge_point_id)]


def _planned(event: PlanUpdated) -> list[FeedEntry]:
    data = {
        "site_id": event.site_id,
        "planned_at": _iso(event.at),
        "method": event.method,
        "sessions": [
            {
                "transaction_id": s.transaction_id,
                "charge_point_id": s.charge_point_id,
                "connector_id": s.connector_id,
                "power_w": [{"from": _iso(at), "power_w": w} for at, w in s.power_w],
                "energy_needed_wh": round(s.energy_needed_wh, 1),
                "energy_planned_wh": round(s.energy_planned_wh, 1),
                "cost": s.cost,
                "waiting_reason": s.waiting_reason,
            }
            for s in event.sessions
        ],
        "binding": [{"slot_start": _iso(at), "constraint": why} for at, why in event.binding],
        "alerts": list(event.alerts),
    }
    return [_entry("plan.updated", event.at, data, site=event.site_id)]


def _alert(event: AlertRaised) -> list[FeedEntry]:
    data = {
        "alert_id": event.alert_id,
        "kind": event.kind,
        "charge_point_id": event.charge_point_id,
        "site_id": event.site_id,
        "message": event.message,
        "at": _iso(event.at),
    }
    return [_entry("alert.raised", event.at, data, event.charge_point_id, event.site_id)]


def _grid_event(event: DemandResponseEventReceived) -> list[FeedEntry]:
    data = {
        "program_id": event.program_id,
        "event_id": event.event_id,
        "modification_number": event.modification_number,
        "status": event.status,
        "signal_name": event.signal_name,
        "signal_type": event.signal_type,
        "effect": event.effect,
        "opt": event.opt,
        "opt_reason": event.opt_reason,
        "start": _iso(event.start) if event.start else None,
        "end": _iso(event.end) if event.end else None,
        "at": _iso(event.at),
    }
    out = dict(event.opted_out)  # a site that opted out alone says so, and why
    return [
        _entry(
            "grid.event_received",
            event.at,
            {**data, "site_id": site}
            | ({"opt": "optOut", "opt_reason": out[site]} if site in out else {}),
            site=site,
        )
        for site in event.site_ids
    ]


def _grid_event_ended(event: DemandResponseEventEnded) -> list[FeedEntry]:
    data = {"program_id": event.program_id, "event_id": event.event_id, "at": _iso(event.at)}
    return [
        _entry("grid.event_ended", event.at, {**data, "site_id": site}, site=site)
        for site in event.site_ids
    ]


def _security_event(event: SecurityEventReported) -> list[FeedEntry]:
    data = {
        "charge_point_id": event.charge_point_id,
        "type": event.type,
        "critical": event.critical,
        "tech_info": event.tech_info,
        "timestamp": _iso(event.timestamp),
        "at": _iso(event.at),
    }
    return [_entry("charge_point.security_event", event.at, data, event.charge_point_id)]


_MAPPERS: dict[type, Callable[[Any], list[FeedEntry]]] = {
    ChargerConnected: _connection,
    ChargerDisconnected: _connection,
    ConnectorStatusChanged: _status,
    TransactionStarted: _started,
    SessionProgressed: _progressed,
    TransactionStopped: _stopped,
    PlanUpdated: _planned,
    AlertRaised: _alert,
    DemandResponseEventReceived: _grid_event,
    DemandResponseEventEnded: _grid_event_ended,
    SecurityEventReported: _security_event,
}
# Recorded here, as a write of their own: no stored change of theirs to go with.
_RECORDED_ALONE = (ChargerConnected, ChargerDisconnected, PlanUpdated, DemandResponseEventEnded)


def matches(patterns: Sequence[str], event_type: str) -> bool:
    """`session.*` matches every session event, `*` every event, a name itself."""
    for pattern in patterns:
        if pattern == "*" or pattern == event_type:
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False


def check_patterns(patterns: Sequence[str]) -> None:
    """ValueError naming a pattern that matches no event type."""
    for pattern in patterns:
        if not any(matches([pattern], known) for known in EVENT_TYPES):
            raise ValueError(
                f"{pattern!r} matches no event; the events are {', '.join(EVENT_TYPES)} "
                "(a prefix such as session.* or * matches several)"
            )


class FeedStore(Protocol):
    async def record(self, entries: Sequence[FeedEntry]) -> None: ...
    async def read(self, after_seq: int, limit: int) -> Sequence[StoredEvent]: ...
    async def last_seq(self) -> int: ...


class EventFeed:
    """Records the events no store write carries, and wakes the live stream and the webhook
    dispatcher when events were committed here (other processes' events are found by
    polling)."""

    def __init__(self, store: FeedStore) -> None:
        self._store = store
        self._committed: asyncio.Future[None] | None = None  # resolved at the next commit
        self._waiters: list[Callable[[], None]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def attach(self, bus: Any) -> None:
        for event_type in _MAPPERS:
            bus.subscribe(event_type, self._published)

    def on_committed(self, wake: Callable[[], None]) -> None:
        self._waiters.append(wake)

    def _published(self, event: object) -> None:
        if isinstance(event, _RECORDED_ALONE):
            task = asyncio.get_running_loop().create_task(self._record(event))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:  # its store wrote it with the change: it is committed
            self._wake()

    async def _record(self, event: object) -> None:
        try:
            await self._store.record(entries([event]))
        except Exception:
            log.exception("could not record %s in the event feed", type(event).__name__)
            return
        self._wake()

    def _wake(self) -> None:
        if self._committed is not None and not self._committed.done():
            self._committed.set_result(None)
        self._committed = None
        for wake in self._waiters:
            wake()

    async def drain(self) -> None:
        """Let the recordings under way land (at shutdown)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def read(self, after_seq: int, limit: int = 500) -> Sequence[StoredEvent]:
        return await self._store.read(after_seq, limit)

    async def last_seq(self) -> int:
        return await self._store.last_seq()

    def next_commit(self) -> asyncio.Future[None]:
        """Resolved when events are next committed here: take it before reading the feed,
        then wait on it, and no commit in between goes unnoticed."""
        if self._committed is None:
            self._committed = asyncio.get_running_loop().create_future()
        return self._committed

    @staticmethod
    async def wait(commit: asyncio.Future[None], seconds: float) -> None:
        """Until that commit, or `seconds` (other processes' events are polled)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):  # not wait_for: see WebhookService._run
                await asyncio.shield(commit)
