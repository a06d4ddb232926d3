"""Raising, counting and resolving alerts for operators.

Services raise an alert when something needs a person: a charger naming another
charger's transaction, a reading outside physical bounds, a site whose replan failed.
An open alert is counted, not repeated, and only its first occurrence is logged, so a
charger that repeats a bad message all night costs one row and one log line.
"""

from __future__ import annotations

import logging
from typing import Any

from ampnexus.domain.alert import Alert, AlertKey, AlertKind, Severity
from ampnexus.domain.errors import NotFound
from ampnexus.domain.events import AlertRaised
from ampnexus.domain.time import Clock
from ampnexus.services.ports import AlertStore, EventPublisher, Page

log = logging.getLogger(__name__)


class AlertService:
    def __init__(
        self, store: AlertStore, clock: Clock, events: EventPublisher | None = None
    ) -> None:
        self._store = store
        self._clock = clock
        self._events = events

    async def raise_alert(
        self,
        key: AlertKey,
        message: str,
        *,
        severity: Severity = Severity.WARNING,
        details: dict[str, Any] | None = None,
    ) -> Alert:
        alert = await self._store.raise_alert(
            key, severity, message, details or {}, self._clock.now()
        )
        if alert.count == 1:
            where = " ".join(filter(None, (key.site_id, key.charge_point_id)))
            log.warning("alert %s%s: %s", key.kind.value, f" ({where})" if where else "", message)
            if self._events is not None:
                self._events.publish(
                    AlertRaised(
                        alert.id,
                        key.kind.value,
                        key.charge_point_id,
                        key.site_id,
                        message,
                        alert.first_raised_at,
                    )
                )
        return alert

    async def resolve(self, key: AlertKey) -> bool:
        """Close the open alert of `key` (the problem went away); False if none was open."""
        return await self._store.resolve(key, self._clock.now())

    async def resolve_id(self, alert_id: int) -> Alert:
        alert = await self._store.resolve_id(alert_id, self._clock.now())
        if alert is None:
            raise NotFound(f"alert {alert_id} does not exist")
        return alert

    async def get(self, alert_id: int) -> Alert:
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
        return await self._store.list(open_only, kind, charge_point_id, site_id, limit, offset)
