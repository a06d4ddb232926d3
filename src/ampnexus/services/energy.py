"""What a charger delivered, per session and per day of its site, for export (up to 13
months; transactions and meter values are kept with no end, so 12 months are always there)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from ampnexus.domain.energy import (
    EnergyReport,
    energy_by_day,
    energy_cost,
    energy_report,
    local_midnight,
    report_range,
    transaction_curve,
)
from ampnexus.domain.errors import Invalid, NotFound
from ampnexus.domain.series import zone_of
from ampnexus.domain.time import Clock
from ampnexus.domain.transaction import Transaction
from ampnexus.services.ports import ChargePointStore, SiteStore, TransactionStore
from ampnexus.services.tariffs import TariffService

NO_SITE_ZONE = "UTC"  # the days of a charger placed on no site


@dataclass(frozen=True, slots=True)
class DayTotal:
    """What a site's chargers delivered on one of its local days, and what it cost."""

    day: date
    energy_wh: float
    cost: float | None  # in the tariff's currency; None when the site has no price for it


class EnergyService:
    def __init__(
        self,
        transactions: TransactionStore,
        charge_points: ChargePointStore,
        sites: SiteStore,
        tariffs: TariffService,
        clock: Clock,
    ) -> None:
        self._transactions = transactions
        self._charge_points = charge_points
        self._sites = sites
        self._tariffs = tariffs
        self._clock = clock

    async def report(
        self,
        charge_point_id: str,
        since: date | datetime | None = None,
        until: date | datetime | None = None,
    ) -> EnergyReport:
        """Days in the time zone of the charger's site (UTC on none); see `report_range`
        for the range. NotFound for an unknown charger; Invalid for a bad range."""
        charger = await self._charge_points.get(charge_point_id)
        if charger is None:
            raise NotFound(f"charge point {charge_point_id!r} is not registered")
        site = None if charger.site_id is None else await self._sites.get(charger.site_id)
        tz = NO_SITE_ZONE if site is None else site.time_zone
        start, end = report_range(since, until, self._clock.now(), tz)
        sessions = await self._transactions.energy_sessions([charge_point_id], start, end)
        return energy_report(charge_point_id, sessions, tz, start, end)

    async def site_day(self, site_id: str, day: date | None = None) -> DayTotal:
        """The energy the site's chargers delivered on `day` (today by default, in the
        site's time zone) and its cost at the site's tariffs, in two reads."""
        layout = await self._sites.layout(site_id)
        if layout is None:
            raise NotFound(f"site {site_id!r} does not exist")
        tz = layout.site.time_zone
        day = day or self._clock.now().astimezone(zone_of(tz)).date()
        start, end = local_midnight(day, tz), local_midnight(day + timedelta(days=1), tz)
        chargers = [placement.charge_point_id for placement in layout.placements]
        sessions = await self._transactions.energy_sessions(chargers, start, end)
        price = await self._tariffs.price_of(site_id, start, end)
        energy, cost = 0.0, 0.0
        for session in sessions:
            curve = transaction_curve(session)
            energy += sum(energy_by_day(curve, tz, start, end).values())
            cost += _cost(curve, price, start, end)
        return DayTotal(day, energy, None if price is None or cost != cost else cost)

    async def session_cost(self, transaction: Transaction) -> float | None:
        """What a session's energy cost at the tariffs of its charger's site (None when
        the charger is on no site, or the site has no price for the session's time)."""
        placement = await self._sites.placement(transaction.charge_point_id)
        if placement is None or placement.site_id is None:
            return None
        until = transaction.stopped_at or self._clock.now()
        price = await self._tariffs.price_of(placement.site_id, transaction.started_at, until)
        cost = _cost(transaction_curve(transaction), price, None, None)
        return None if price is None or cost != cost else cost

    async def session_costs(
        self, site_id: str, sessions: Sequence[Transaction]
    ) -> dict[int, float | None]:
        """`session_cost` of many sessions at chargers on one site, by transaction id, with
        one read of its tariffs (and their prices over the sessions' span) for them all: a
        page of a list or an export. The sessions carry their register readings
        (`TransactionService.list(..., registers=True)`). Priced off the event loop: an
        export's page of 500 sessions is some 50 ms of arithmetic."""
        if not sessions:
            return {}
        now = self._clock.now()
        since = min(s.started_at for s in sessions)
        until = max(s.stopped_at or now for s in sessions)
        price = await self._tariffs.price_of(site_id, since, until)
        if price is None:
            return {s.id: None for s in sessions}

        def priced() -> dict[int, float | None]:
            costs = {s.id: _cost(transaction_curve(s), price, None, None) for s in sessions}
            return {key: None if cost != cost else cost for key, cost in costs.items()}

        return await asyncio.to_thread(priced)


def _cost(
    curve: list[tuple[datetime, float]],
    price: Callable[[datetime], float] | None,
    since: datetime | None,
    until: datetime | None,
) -> float:
    """NaN when a moment has no price (a tariff whose bands leave a gap): no cost is shown
    rather than a wrong one."""
    if price is None:
        return 0.0
    try:
        return energy_cost(curve, price, since, until)
    except Invalid:
        return float("nan")
