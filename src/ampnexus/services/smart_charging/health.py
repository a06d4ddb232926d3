"""Which chargers follow their profiles: one that keeps refusing them, or stays silent, is
uncontrolled, planned as drawing its maximum over the whole horizon and alerted, and the
others' fail-safes leave it room, so the rest of the site stays within its limits. It is
controlled again once it accepts a profile, or answers."""

from __future__ import annotations

from collections.abc import Callable

from ampnexus.domain.alert import AlertKey, AlertKind
from ampnexus.domain.site import SiteLayout
from ampnexus.services.smart_charging.background import Background, logged_failure
from ampnexus.services.smart_charging.model import (
    DEFAULT_MAX_POWER_W,
    REFUSALS_BEFORE_EXCLUDED,
    SitePlan,
    log,
)


class ChargerHealth:
    def __init__(self, background: Background, replan: Callable[[str], None]) -> None:
        self._background = background
        self._alerts = background.alerts
        self._replan = replan
        self._refusals: dict[str, int] = {}
        self._answering: dict[str, bool] = {}  # charger -> answered last (absent: not known)

    def refusing(self, charger: str) -> bool:
        return self._refusals.get(charger, 0) >= REFUSALS_BEFORE_EXCLUDED

    def silent(self, charger: str) -> bool:
        """Found silent, and not heard from since (unknown is not silent)."""
        return self._answering.get(charger) is False

    def uncontrolled(self, charger: str) -> bool:
        """Refusing or silent: it may draw whatever it last held, so the plan counts its
        maximum and the others share what is left."""
        return self.refusing(charger) or self.silent(charger)

    def uncontrolled_w(self, layout: SiteLayout) -> dict[str, float]:
        """The chargers planned at their maximum, with it: the others' fail-safes leave it."""
        return {
            p.charge_point_id: p.max_power_w or DEFAULT_MAX_POWER_W
            for p in layout.placements
            if self.uncontrolled(p.charge_point_id)
        }

    def booted(self, charger: str) -> None:
        self._refusals.pop(charger, None)

    def went_silent(self, charger: str) -> None:
        self._answering[charger] = False

    async def answered(self, charger: str, site_id: str) -> None:
        """Resolve its CHARGER_SILENT alert on the way back (after a restart, once)."""
        if self._answering.get(charger):
            return
        if self._answering.get(charger) is False:  # back: planned as controllable again
            self._replan(site_id)
        self._answering[charger] = True
        with logged_failure("could not resolve the alert"):
            await self._alerts.resolve(AlertKey(AlertKind.CHARGER_SILENT, charger, site_id))

    def refused(self, site_plan: SitePlan, charger: str, connector: int) -> None:
        """Counted; alerted the time it makes the charger uncontrolled."""
        self._refusals[charger] = self._refusals.get(charger, 0) + 1
        site_plan.alerts.append(f"{charger} connector {connector} refused its charging profile")
        if self._refusals[charger] == REFUSALS_BEFORE_EXCLUDED:
            log.warning("%s keeps refusing profiles: planning it at full power", charger)
            self._background.flag(
                AlertKey(AlertKind.CHARGER_REFUSES_PROFILES, charger, site_plan.site_id),
                f"{charger} refuses its charging profiles: planned at its maximum power, "
                "and the other chargers' fail-safes leave room for it",
                {"connector_id": connector},
            )
        self._replan(site_plan.site_id)  # retry; past the limit, plan around it

    def obeys(self, charger: str, site_id: str) -> None:
        if self._refusals.pop(charger, 0) >= REFUSALS_BEFORE_EXCLUDED:
            key = AlertKey(AlertKind.CHARGER_REFUSES_PROFILES, charger, site_id)
            self._background.spawn(self._alerts.resolve(key))
