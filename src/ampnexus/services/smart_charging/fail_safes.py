"""Each charger's fail-safe (its TxDefaultProfile on connector 0): what it may draw with
AmpNexus unreachable. The static share splits every circuit's limit, less what the building
drew lately and what the uncontrolled chargers may draw, among the chargers below it; an
idle charger's dynamic fail-safe holds what the plan leaves free, at most its static share
(ADR 0003, dynamic fail-safes)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timedelta

from ampnexus.charging.compiler import (
    MIN_CURRENT_A,
    IdleConnectors,
    fail_safe_per_connector_w,
    fail_safe_profile,
    idle_room_w,
)
from ampnexus.domain.charging_profile import ChargingRateUnit, ProfileStatus, convert
from ampnexus.domain.errors import DomainError
from ampnexus.domain.site import Placement, SiteLayout
from ampnexus.domain.time import Clock
from ampnexus.services.planning_ports import ChargerPresence
from ampnexus.services.ports import ChargerCommands
from ampnexus.services.smart_charging.capabilities import ChargerKeys
from ampnexus.services.smart_charging.health import ChargerHealth
from ampnexus.services.smart_charging.model import DEFAULT_MAX_POWER_W, SITE, SitePlan, log

BUILDING_RESERVE_WINDOW = timedelta(hours=24)


class FailSafes:
    def __init__(
        self,
        *,
        commands: ChargerCommands,
        presence: ChargerPresence,
        clock: Clock,
        keys: ChargerKeys,
        health: ChargerHealth,
    ) -> None:
        self._chargers = commands
        self._presence = presence
        self._clock = clock
        self._keys = keys
        self._health = health
        self._fail_safe_w: dict[str, float] = {}  # the fail-safe each charger holds
        self._delay_s: dict[str, int] = {}  # and the start delay it holds (its mode's)
        self._stuck: set[str] = set()  # refused its latest fail-safe: holds the one before
        self._idle_w: dict[str, float] = {}  # the fail-safe each charger's plan leaves it
        self._building: dict[str, list[tuple[datetime, float]]] = {}  # site -> recent highs

    def held_w(self, charger: str) -> float | None:
        """The fail-safe the charger last accepted (None: none since it booted)."""
        return self._fail_safe_w.get(charger)

    def stuck(self, charger: str) -> bool:
        return charger in self._stuck

    def connector_w(self, charge_point_id: str) -> float | None:
        """What one connector of the charger may draw under its fail-safe (None: none held)."""
        share = self._fail_safe_w.get(charge_point_id)
        capabilities = self._keys.known(charge_point_id)
        if share is None or capabilities is None:  # none installed yet, or it just rebooted
            return None
        return fail_safe_per_connector_w(share, capabilities)

    def booted(self, charger: str) -> None:
        """A rebooted charger may have lost it."""
        self._fail_safe_w.pop(charger, None)

    def accepted(self, charger: str, watts: float, delay_s: int = 0) -> None:
        self._fail_safe_w[charger] = watts
        self._delay_s[charger] = delay_s
        self._stuck.discard(charger)

    def refused(self, charger: str) -> None:
        """Planned around the one it holds; sent again, in the other unit if guessed."""
        self._stuck.add(charger)
        self._keys.try_other_unit(charger)

    def targets(self, layout: SiteLayout) -> dict[str, float]:
        """The fail-safe share each charger should hold; none for the uncontrolled ones
        (planned at their maximum meanwhile)."""
        uncontrolled = self._health.uncontrolled_w(layout)
        building = self.building_reserve_w(layout.site.id)
        loads = _CircuitLoads(layout, uncontrolled)  # counted once: this runs every compile
        return {
            placement.charge_point_id: loads.share_w(placement, building)
            for placement in layout.placements
            if placement.charge_point_id not in uncontrolled
        }

    def after_boot_w(self, layout: SiteLayout, placement: Placement, planned: bool) -> float:
        """A rebooted charger's share at once; with its site `planned`, at most what the plan
        leaves it (or nothing yet)."""
        charge_point_id = placement.charge_point_id
        share = fail_safe_share_w(
            layout,
            placement,
            self._health.uncontrolled_w(layout),
            self.building_reserve_w(layout.site.id),
        )
        if planned:  # the plan leaves it only so much (or nothing yet)
            share = min(share, self._idle_w.get(charge_point_id, 0.0))
        return share

    def note_building(self, site_id: str, watts: float) -> None:
        """Kept for `BUILDING_RESERVE_WINDOW`, newest last: the highest is the reserve."""
        now = self._clock.now()
        seen = [(at, w) for at, w in self._building.get(site_id, []) if w > watts]
        self._building[site_id] = [
            *((at, w) for at, w in seen if now - at < BUILDING_RESERVE_WINDOW),
            (now, watts),
        ]

    def building_reserve_w(self, site_id: str) -> float:
        """What the fail-safes leave for the building: the most it drew over the last day.
        With AmpNexus unreachable nothing follows the building, and a fail-safe must hold
        for as long as that lasts (a night, or a 30-hour outage)."""
        return max((w for _, w in self._building.get(site_id, [])), default=0.0)

    def idle(
        self, layout: SiteLayout, site_plan: SitePlan, static: dict[str, float]
    ) -> dict[str, float]:
        """Each charger's fail-safe, dynamic: what the plan leaves free for its free
        connectors (`idle_room_w`), at most its static share, floored to 100 W per
        connector so that small moves of the plan do not resend it; 0 when it has no free
        connector (a car leaving brings a replan that raises it)."""
        busy = Counter(charger for charger, _, _ in site_plan.transactions.values())
        idle = []
        for placement in layout.placements:
            charger = placement.charge_point_id
            capabilities = self._keys.known(charger)
            free = (capabilities.connectors if capabilities else 1) - busy.get(charger, 0)
            if charger in static and free > 0:
                circuit = placement.circuit_id or SITE
                phases = placement.grid_phases(layout.site.phases)
                idle.append(IdleConnectors(charger, circuit, phases, free))
        room = idle_room_w(site_plan.request, site_plan.plan, idle)
        targets = {}
        for charger, share in static.items():
            capabilities = self._keys.known(charger)
            connectors = capabilities.connectors if capabilities else 1
            each = _floored(room.get(charger, 0.0))
            targets[charger] = min(share, each * connectors)
        self._idle_w.update(targets)
        return targets

    def changes(
        self, targets: dict[str, float], delays: Mapping[str, int] | None = None
    ) -> list[tuple[str, float]]:
        """Every connected charger whose fail-safe share or start delay changed (chargers
        were added, moved or removed, a limit or a mode changed, a session started, or a
        charger stopped or started obeying)."""
        delays = delays or {}
        return [
            (charger, watts)
            for charger, watts in targets.items()
            if self._presence.is_connected(charger)
            and (
                self._fail_safe_w.get(charger) != watts
                or self._delay_s.get(charger, 0) != delays.get(charger, 0)
            )
        ]

    async def install(
        self, charge_point_id: str, watts: float, delay_s: int = 0, stack_level: int = 0
    ) -> None:
        capabilities = await self._keys.of(charge_point_id)
        profile = fail_safe_profile(watts, capabilities, delay_s, stack_level)
        try:
            answer = await self._chargers.set_charging_profile(charge_point_id, 0, profile)
        except DomainError as error:
            log.warning("%s: fail-safe profile not installed: %s", charge_point_id, error)
            return
        if answer.status is ProfileStatus.ACCEPTED:
            self.accepted(charge_point_id, watts, delay_s)
        else:  # the replan that follows sends it again, in the other unit if guessed
            self.refused(charge_point_id)


def _floored(room_w: float) -> float:
    """To 100 W, so that small moves of the plan do not resend a fail-safe; a site with no
    limit leaves unlimited room (its static share bounds it)."""
    return math.floor(room_w / 100.0) * 100.0 if math.isfinite(room_w) else room_w


def fail_safe_share_w(
    layout: SiteLayout,
    placement: Placement,
    uncontrolled: Mapping[str, float] | None = None,
    building_w: float = 0.0,
) -> float:
    """The power each charger may draw with AmpNexus unreachable: on every circuit from the
    charger up to the grid connection, that circuit's limit split equally among all chargers
    below it; the smallest share wins. Below the 6 A minimum it becomes 0 (no charging).
    `uncontrolled`: chargers that may draw their maximum whatever they are told (refusing or
    silent), with that maximum; each circuit's limit less theirs is split among the rest.
    `building_w`: what the site's own load may draw meanwhile, off the grid connection."""
    return _CircuitLoads(layout, uncontrolled or {}).share_w(placement, building_w)


class _CircuitLoads:
    """Per circuit (None: the grid connection), how many steerable chargers hang below it
    and what the uncontrolled ones below it take: counted once for all chargers' shares."""

    def __init__(self, layout: SiteLayout, uncontrolled: Mapping[str, float]) -> None:
        self.site = layout.site
        self.by_id = {c.id: c for c in layout.circuits}
        self.below: dict[str | None, int] = {}
        self.taken: dict[str | None, float] = {}
        for other in layout.placements:
            drawn = uncontrolled.get(other.charge_point_id)
            circuit_id = other.circuit_id
            while True:
                if drawn is None:
                    self.below[circuit_id] = self.below.get(circuit_id, 0) + 1
                else:
                    self.taken[circuit_id] = self.taken.get(circuit_id, 0.0) + drawn
                if circuit_id is None:
                    break
                circuit_id = self.by_id[circuit_id].parent_id if circuit_id in self.by_id else None

    def _split(self, limit: float, circuit_id: str | None) -> float:
        free = max(0.0, limit - self.taken.get(circuit_id, 0.0))
        return free / max(1, self.below.get(circuit_id, 1))

    def share_w(self, placement: Placement, building_w: float) -> float:
        site = self.site
        phases = len(placement.grid_phases(site.phases))
        share = self._split(site.limit_w - building_w, None)  # inf when the site has no limit
        circuit_id = placement.circuit_id
        while circuit_id is not None and circuit_id in self.by_id:
            circuit = self.by_id[circuit_id]
            limits = [
                circuit.max_power_w,
                circuit.max_current_a * site.voltage * phases if circuit.max_current_a else None,
            ]
            for limit in limits:
                if limit is not None:
                    share = min(share, self._split(limit, circuit_id))
            circuit_id = circuit.parent_id
        share = min(share, placement.max_power_w or DEFAULT_MAX_POWER_W)
        minimum = convert(
            MIN_CURRENT_A, ChargingRateUnit.A, ChargingRateUnit.W, phases, site.voltage
        )
        return share if share >= minimum else 0.0
