"""What profiles each charger takes: its smart-charging keys (GetConfiguration), read at
boot and before a compile, the defaults meanwhile, and the unit a charger that did not
name one is tried in."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from ampnexus.charging.compiler import ChargerCapabilities
from ampnexus.domain.charging_profile import ChargingRateUnit
from ampnexus.domain.errors import DomainError
from ampnexus.services.planning_ports import ChargerPresence
from ampnexus.services.ports import ChargerCommands
from ampnexus.services.smart_charging.background import Background
from ampnexus.services.smart_charging.health import ChargerHealth
from ampnexus.services.smart_charging.model import log
from ampnexus.services.smart_charging.places import Places

KEYS_WAIT_S = 0.5  # what a compile waits for chargers' smart-charging keys not known yet
CAPABILITY_KEYS = (
    "ChargingScheduleAllowedChargingRateUnit",
    "ChargingScheduleMaxPeriods",
    "ChargeProfileMaxStackLevel",
    "MaxChargingProfilesInstalled",
    "NumberOfConnectors",
)


class ChargerKeys:
    def __init__(
        self,
        *,
        commands: ChargerCommands,
        presence: ChargerPresence,
        places: Places,
        health: ChargerHealth,
        background: Background,
        replan: Callable[[str], None],
        profile_deadline_s: float,
    ) -> None:
        self._chargers = commands
        self._presence = presence
        self._places = places
        self._health = health
        self._background = background
        self._replan = replan
        self._profile_deadline_s = profile_deadline_s
        self._capabilities: dict[str, ChargerCapabilities] = {}
        self._unit_guessed: set[str] = set()  # answered without its units: A assumed
        self._reading_keys: dict[str, asyncio.Task[ChargerCapabilities]] = {}  # in flight

    def known(self, charge_point_id: str) -> ChargerCapabilities | None:
        """Its own answer's, if it gave one (since it last booted)."""
        return self._capabilities.get(charge_point_id)

    def booted(self, charge_point_id: str) -> None:
        self._capabilities.pop(charge_point_id, None)
        self._unit_guessed.discard(charge_point_id)

    async def learn(self, charge_point_ids: Sequence[str]) -> None:
        """Ask every connected charger whose keys are not known yet, all at once, and wait at
        most `KEYS_WAIT_S`: a compile runs under the site's lock, and one silent charger
        asked in turn held every other charger's profile for the whole profile deadline.
        Its defaults serve meanwhile; its late answer brings a replan. A charger found
        silent is asked again each time (the probe that finds it back) but not waited for."""
        asked = [  # not again for a read still pending from an earlier compile
            charger
            for charger in charge_point_ids
            if charger not in self._reading_keys
            and (charger not in self._capabilities or self._health.silent(charger))
            and self._presence.is_connected(charger)
        ]
        reads = [self._reading(charger) for charger in asked]
        waited = [r for c, r in zip(asked, reads, strict=True) if not self._health.silent(c)]
        if waited:
            await asyncio.wait(waited, timeout=KEYS_WAIT_S)

    async def of(self, charge_point_id: str, wait_s: float | None = None) -> ChargerCapabilities:
        """Read once (at boot, normally), waiting at most `wait_s` (default: the profile
        deadline); meanwhile the defaults serve, and the read caches the real ones when the
        charger answers."""
        wait_s = self._profile_deadline_s if wait_s is None else wait_s
        if charge_point_id not in self._capabilities and wait_s > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._reading(charge_point_id)), wait_s)
        known = self._capabilities.get(charge_point_id)  # cached only from an answer
        return known or capabilities_from({}, await self._places.phases(charge_point_id))

    def _reading(self, charge_point_id: str) -> asyncio.Task[ChargerCapabilities]:
        """The charger's smart-charging keys being read (one read at a time)."""
        reading = self._reading_keys.get(charge_point_id)
        if reading is None:
            reading = asyncio.get_running_loop().create_task(self._read(charge_point_id))
            self._reading_keys[charge_point_id] = reading
            self._background.track(reading)
            reading.add_done_callback(lambda task: self._read_done(charge_point_id, task))
        return reading

    def _read_done(self, charge_point_id: str, task: asyncio.Task[Any]) -> None:
        if self._reading_keys.get(charge_point_id) is task:
            del self._reading_keys[charge_point_id]
        placed = self._places.placed.get(charge_point_id)
        answered = charge_point_id in self._capabilities
        if answered and placed is not None and not task.cancelled():
            self._replan(placed.site_id)  # its real units, if a compile went without

    async def _read(self, charge_point_id: str) -> ChargerCapabilities:
        """Cached only from the charger's own answer: defaults cached because it was not
        connected yet sent A profiles to a W-only charger until it rebooted."""
        phases = await self._places.phases(charge_point_id)
        try:
            read = await self._chargers.get_configuration(charge_point_id, CAPABILITY_KEYS)
        except DomainError as error:
            log.warning("%s: could not read smart charging keys: %s", charge_point_id, error)
            return capabilities_from({}, phases)  # for now; asked again next time
        values = read.values
        capabilities = capabilities_from(values, phases)
        self._capabilities[charge_point_id] = capabilities
        placed = self._places.placed.get(charge_point_id)
        if self._health.silent(charge_point_id) and placed is not None:
            await self._health.answered(charge_point_id, placed.site_id)  # a silent one is back
        if "ChargingScheduleAllowedChargingRateUnit" not in values:
            self._unit_guessed.add(charge_point_id)
        return capabilities

    def try_other_unit(self, charge_point_id: str) -> bool:
        """A charger that did not say which unit it takes and refused a profile gets the other
        unit once before the refusal counts (OCPP 1.6 gives no reason for a refusal)."""
        known = self._capabilities.get(charge_point_id)
        if known is None or charge_point_id not in self._unit_guessed:
            return False
        self._unit_guessed.discard(charge_point_id)
        other = ChargingRateUnit.A if known.unit is ChargingRateUnit.W else ChargingRateUnit.W
        self._capabilities[charge_point_id] = replace(known, units=(other,))
        log.info("%s refused a profile in %s: trying %s", charge_point_id, known.unit, other)
        return True


def capabilities_from(values: dict[str, str], phases: int) -> ChargerCapabilities:
    """ChargerCapabilities from GetConfiguration values; missing or odd values keep defaults,
    and impossible ones are raised to the least that works (a negative stack level would make
    every profile of the site's plan invalid)."""
    units_text = values.get("ChargingScheduleAllowedChargingRateUnit", "Current")
    units = tuple(
        unit
        for word, unit in (("Current", ChargingRateUnit.A), ("Power", ChargingRateUnit.W))
        if word in units_text
    ) or (ChargingRateUnit.A,)
    defaults = ChargerCapabilities()
    return ChargerCapabilities(
        max_periods=max(1, _int(values.get("ChargingScheduleMaxPeriods"), defaults.max_periods)),
        units=units,
        max_stack_level=max(
            0, _int(values.get("ChargeProfileMaxStackLevel"), defaults.max_stack_level)
        ),
        phases=phases,
        connectors=max(1, _int(values.get("NumberOfConnectors"), defaults.connectors)),
    )


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default
