"""What a charger delivered, per session and per day of its site, for export (up to 13
months; transactions and meter values are kept with no end, so 12 months are always there)."""

from __future__ import annotations

from datetime import date, datetime

from ampnexus.domain.energy import EnergyReport, energy_report, report_range
from ampnexus.domain.errors import NotFound
from ampnexus.domain.time import Clock
from ampnexus.services.ports import ChargePointStore, SiteStore, TransactionStore

NO_SITE_ZONE = "UTC"  # the days of a charger placed on no site


class EnergyService:
    def __init__(
        self,
        transactions: TransactionStore,
        charge_points: ChargePointStore,
        sites: SiteStore,
        clock: Clock,
    ) -> None:
        self._transactions = transactions
        self._charge_points = charge_points
        self._sites = sites
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
        sessions = await self._transactions.energy_sessions(charge_point_id, start, end)
        return energy_report(charge_point_id, sessions, tz, start, end)
