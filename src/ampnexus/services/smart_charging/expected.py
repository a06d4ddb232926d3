"""The EVs expected later in the horizon: the site's sessions of the same weekday in the
previous weeks (`charging.forecast`). They keep room for arrivals and turn on the
planner's deferral hedge (ADR 0005); only real sessions become charging profiles. Without
a forecast, the EVs the site's own chargers suggest (ADR 0007)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ampnexus.charging.forecast import PastSession, expected_sessions, history_start
from ampnexus.charging.model import Session, SlotGrid
from ampnexus.charging.plausible import finished_problem
from ampnexus.charging.prior import Charger, prior_sessions
from ampnexus.domain.series import zone_of
from ampnexus.domain.site import Placement, Site, SiteLayout
from ampnexus.domain.transaction import Transaction
from ampnexus.services.ports import TransactionStore
from ampnexus.services.smart_charging.background import SessionFlags
from ampnexus.services.smart_charging.capabilities import ChargerKeys
from ampnexus.services.smart_charging.model import DEFAULT_MAX_POWER_W, SITE
from ampnexus.services.smart_charging.places import physical_max_w_at

# Replans come every few seconds; the history behind the forecast changes only when a
# transaction stops (which drops it at once) or as days pass, so it is read this seldom.
HISTORY_MAX_AGE = timedelta(minutes=15)


class ExpectedEVs:
    def __init__(
        self,
        *,
        history: TransactionStore | None,
        forecast_weeks: int,
        reading_margin: float,
        keys: ChargerKeys,
        flags: SessionFlags,
    ) -> None:
        # No store or no weeks: no forecast, plans hold only the EVs plugged in.
        self._history_store = history if forecast_weeks > 0 else None
        self._forecast_weeks = forecast_weeks
        self._reading_margin = reading_margin
        self._keys = keys
        self._flags = flags
        self._history: dict[str, tuple[datetime, Sequence[Transaction]]] = {}  # site -> read at
        self._history_stops: dict[str, int] = {}  # site -> stops seen, to spot a read overtaken

    def history_changed(self, site_id: str) -> None:
        """A transaction stopped at the site: its history is read again at the next replan."""
        self._history.pop(site_id, None)
        self._history_stops[site_id] = self._history_stops.get(site_id, 0) + 1

    async def expected(self, layout: SiteLayout, grid: SlotGrid, now: datetime) -> list[Session]:
        """The EVs the site's history says will arrive between now and the horizon's end."""
        if self._history_store is None:
            return []
        zone = zone_of(layout.site.time_zone)
        placements = {p.charge_point_id: p for p in layout.placements}
        past = [
            past_session(transaction, placements[transaction.charge_point_id], layout.site)
            for transaction in await self._recent_history(layout.site.id, now, zone)
            if transaction.charge_point_id in placements
            and self._plausible_history(transaction, placements, layout.site, now)
        ]
        history = [p for p in past if p.energy_wh > 0 and p.departure > p.arrival]
        expected = expected_sessions(
            history, now=now, horizon_end=grid.end, zone=zone, weeks=self._forecast_weeks
        )
        return list(expected)

    def prior(
        self, layout: SiteLayout, grid: SlotGrid, present: Sequence[Session]
    ) -> list[Session]:
        """Without a forecast (no history, or forecasts off), the EVs the site's own chargers
        and the recent arrivals suggest (ADR 0007), as the benchmark's online planner does."""
        site = layout.site
        chargers = [
            Charger(p.circuit_id or SITE, physical_max_w_at(p, site), p.grid_phases(site.phases))
            for p in layout.placements
            for _ in range(getattr(self._keys.known(p.charge_point_id), "connectors", 1))
        ]
        return list(prior_sessions(chargers, present, grid))

    def _plausible_history(
        self, transaction: Transaction, placements: dict[str, Placement], site: Site, now: datetime
    ) -> bool:
        assert transaction.stopped_at is not None and transaction.meter_stop is not None
        max_w = physical_max_w_at(placements[transaction.charge_point_id], site)
        problem = finished_problem(
            transaction.started_at,
            transaction.stopped_at,
            transaction.meter_stop - transaction.meter_start,
            max_w,
            self._reading_margin,
            now,
        )
        if problem is not None:
            self._flags.flag(transaction, site.id, "history", f"{problem}; left out of forecasts")
        return problem is None

    async def _recent_history(
        self, site_id: str, now: datetime, zone: ZoneInfo
    ) -> Sequence[Transaction]:
        cached = self._history.get(site_id)
        if cached is not None and now - cached[0] < HISTORY_MAX_AGE:
            return cached[1]
        assert self._history_store is not None
        since = history_start(now, zone, self._forecast_weeks)
        stops = self._history_stops.get(site_id, 0)
        transactions = await self._history_store.finished_at_site(site_id, since)
        if self._history_stops.get(site_id, 0) == stops:  # else a stop came during the read
            self._history[site_id] = (now, transactions)
        return transactions


def past_session(transaction: Transaction, placement: Placement, site: Site) -> PastSession:
    """A finished transaction as the forecast sees it, on the charger's present placement:
    energy from its meter readings, departure when it stopped (the EV may have stayed
    plugged in longer; that is not recorded)."""
    assert transaction.stopped_at is not None and transaction.meter_stop is not None
    return PastSession(
        id=f"tx{transaction.id}",
        circuit_id=placement.circuit_id or SITE,
        arrival=transaction.started_at,
        departure=transaction.stopped_at,
        energy_wh=float(transaction.meter_stop - transaction.meter_start),
        max_power_w=placement.max_power_w or DEFAULT_MAX_POWER_W,
        phases=placement.grid_phases(site.phases),
    )
