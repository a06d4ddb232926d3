"""Raising, counting and resolving alerts for operators.

Services raise an alert when something needs a person: a charger naming another
charger's transaction, a reading outside physical bounds, a site whose replan failed.
An open alert is counted, not repeated, and only its first occurrence is logged, so a
charger that repeats a bad message all night costs one row and one log line. Repeats are
counted in memory and stored at most every `COALESCE_SECONDS` per alert (and whenever
alerts are read), so a flood of bad messages costs no database write per message.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ampnexus.domain.alert import Alert, AlertKey, AlertKind, Severity
from ampnexus.domain.errors import NotFound
from ampnexus.domain.events import AlertRaised
from ampnexus.domain.time import Clock
from ampnexus.services.ports import AlertStore, EventPublisher, Page

log = logging.getLogger(__name__)

COALESCE_SECONDS = 10.0


@dataclass(slots=True)
class _Repeats:
    """An alert stored at `stored_at`, and what was raised again since, not yet stored."""

    stored_at: datetime
    count: int = 0
    severity: Severity = Severity.WARNING
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)


class AlertService:
    def __init__(
        self, store: AlertStore, clock: Clock, events: EventPublisher | None = None
    ) -> None:
        self._store = store
        self._clock = clock
        self._events = events
        self._repeats: dict[AlertKey, _Repeats] = {}
        self._coalesce = timedelta(seconds=COALESCE_SECONDS)

    async def raise_alert(
        self,
        key: AlertKey,
        message: str,
        *,
        severity: Severity = Severity.WARNING,
        details: dict[str, Any] | None = None,
    ) -> None:
        now = self._clock.now()
        repeats = self._repeats.get(key)
        if repeats is not None and now - repeats.stored_at < self._coalesce:
            repeats.count += 1  # stored with the next write of this alert, or a read
            repeats.severity, repeats.message, repeats.details = severity, message, details or {}
            return
        earlier = repeats.count if repeats is not None else 0
        self._repeats[key] = _Repeats(now)  # before the write: a repeat meanwhile waits
        await self._write(key, severity, message, details or {}, 1 + earlier, now)

    async def _write(
        self,
        key: AlertKey,
        severity: Severity,
        message: str,
        details: dict[str, Any],
        occurrences: int,
        now: datetime,
    ) -> None:
        def announce(alert: Alert) -> list[AlertRaised]:
            return [_raised(alert)] if _opened_now(alert, now, occurrences) else []

        alert = await self._store.raise_alert(
            key, severity, message, details, now, occurrences, announce
        )
        if _opened_now(alert, now, occurrences):
            self._opened(alert)

    def _opened(self, alert: Alert) -> None:
        key = alert.key
        where = " ".join(filter(None, (key.site_id, key.charge_point_id)))
        log.warning("alert %s%s: %s", key.kind.value, f" ({where})" if where else "", alert.message)
        if self._events is not None:
            self._events.publish(_raised(alert))

    async def _store_repeats(self) -> None:
        """Store the repeats counted in memory (before alerts are read)."""
        for key, repeats in list(self._repeats.items()):
            if repeats.count:
                count, repeats.count = repeats.count, 0
                await self._write(
                    key,
                    repeats.severity,
                    repeats.message,
                    repeats.details,
                    count,
                    self._clock.now(),
                )

    async def resolve(self, key: AlertKey) -> bool:
        """Close the open alert of `key` (the problem went away); False if none was open."""
        self._repeats.pop(key, None)
        return await self._store.resolve(key, self._clock.now())

    async def resolve_id(self, alert_id: int) -> Alert:
        await self._store_repeats()
        alert = await self._store.resolve_id(alert_id, self._clock.now())
        if alert is None:
            raise NotFound(f"alert {alert_id} does not exist")
        self._repeats.pop(alert.key, None)  # raised again, it is a new alert
        return alert

    async def get(self, alert_id: int) -> Alert:
        await self._store_repeats()
        alert = await self._store.get(alert_id)
        if alert is None:
            raise NotFound(f"alert {alert_id} does not exist")
        return alert

    async def list(
        self,
        *,
        open_only: bool | None = None,
        kind: AlertKind | None = None,
        charge_point_id: str | None = None,
        site_id: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[Alert]:
        await self._store_repeats()
        return await self._store.list(open_only, kind, charge_point_id, site_id, limit, offset)


def _opened_now(alert: Alert, now: datetime, occurrences: int) -> bool:
    return alert.first_raised_at == now and alert.count == occurrences


def _raised(alert: Alert) -> AlertRaised:
    key = alert.key
    return AlertRaised(
        alert.id,
        key.kind.value,
        key.charge_point_id,
        key.site_id,
        alert.message,
        alert.first_raised_at,
    )
