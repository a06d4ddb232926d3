"""One charge point's hardware and state: connectors, meters, the EVs plugged in, and the
charging profiles it obeys. No sockets here: `advance(now)` moves the physics on, and the
protocol side (charge_point.py) reads and changes the state.

Power drawn on a connector = min(what the EV accepts, the composite limit of its charging
profiles at that moment, the charger's maximum), with a ChargePointMaxProfile shared by all
connectors together. An offer below 6 A per phase is no offer (IEC 61851-1), so such a
limit suspends charging (SuspendedEVSE).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ampnexus.domain.charging_profile import (
    ChargingProfile,
    ChargingRateUnit,
    InstalledProfiles,
    limit_at,
)
from ampnexus.sim.configuration import Configuration, default_configuration
from ampnexus.sim.ev import EV
from ampnexus.sim.metering import Reading

MIN_CURRENT_A = 6.0
MAX_STEP_SECONDS = 10.0  # physics step: short enough to follow the EV's taper


@dataclass(frozen=True, slots=True)
class ChargerSpec:
    id: str
    connectors: int = 2
    max_power_w: float = 22_000.0  # per connector
    phases: int = 3
    voltage: float = 230.0
    vendor: str = "AmpNexus"
    model: str = "SimCharger 22"
    firmware: str = "1.0.0"
    serial_number: str | None = None
    password: str | None = None  # HTTP Basic auth (security profile 1); None: profile 0

    def __post_init__(self) -> None:
        if self.connectors < 1 or self.phases not in (1, 3) or self.max_power_w <= 0:
            raise ValueError("a charger has connectors, 1 or 3 phases and a positive max power")

    @property
    def min_power_w(self) -> float:
        return MIN_CURRENT_A * self.voltage * self.phases


# A small range of wall boxes: 7.4 kW on one phase, 11 and 22 kW on three, 230 V.
CATALOGUE = (
    {"connectors": 1, "max_power_w": 7_400.0, "phases": 1, "model": "SimCharger 7"},
    {"connectors": 2, "max_power_w": 11_000.0, "phases": 3, "model": "SimCharger 11"},
    {"connectors": 2, "max_power_w": 22_000.0, "phases": 3, "model": "SimCharger 22"},
)


def catalogue_spec(charge_point_id: str, index: int, password: str | None = None) -> ChargerSpec:
    """The `index`th charger of a mixed fleet."""
    model = CATALOGUE[index % len(CATALOGUE)]
    return ChargerSpec(
        id=charge_point_id,
        serial_number=f"SIM{index + 1:06d}",
        password=password,
        **model,  # type: ignore[arg-type]
    )


_local_ids = itertools.count(-1, -1)


@dataclass(eq=False)
class Transaction:
    connector_id: int
    id_tag: str
    meter_start: int
    started_at: datetime
    next_sample_at: datetime
    local_id: int = field(default_factory=lambda: next(_local_ids))
    id: int | None = None  # the CSMS's transactionId, once StartTransaction is answered
    invalid: bool = False  # the CSMS refused the tag; it runs on without energy
    profile: ChargingProfile | None = None  # the TxProfile of a RemoteStartTransaction
    meter_stop: int | None = None
    stopped_at: datetime | None = None
    reason: str | None = None

    @property
    def ocpp_id(self) -> int:
        """The id profiles are bound to: the CSMS's, or a local one until it is known."""
        return self.id if self.id is not None else self.local_id

    @property
    def energy_wh(self) -> int | None:
        return None if self.meter_stop is None else self.meter_stop - self.meter_start


@dataclass(frozen=True, slots=True)
class Authorization:
    """An id tag accepted before the cable was in (or a remote start waiting for it)."""

    id_tag: str
    at: datetime
    profile: ChargingProfile | None = None


@dataclass(eq=False)
class Connector:
    id: int
    energy_wh: float = 0.0  # the meter register
    power_w: float = 0.0  # drawn now
    offered_w: float = 0.0  # allowed now
    ev: EV | None = None
    transaction: Transaction | None = None
    authorization: Authorization | None = None
    finishing: bool = False  # transaction over, cable still in
    inoperative: bool = False  # set Unavailable by ChangeAvailability (persists a reboot)
    scheduled: bool | None = None  # inoperative after the running transaction
    fault: str | None = None  # a ChargePointErrorCode while Faulted
    announced: tuple[str, str] | None = None  # status queued for the CSMS
    reported: tuple[str, str] | None = None  # status the CSMS confirmed

    @property
    def charging(self) -> bool:
        tx = self.transaction
        return tx is not None and not tx.invalid and self.ev is not None and self.fault is None

    def status(self, station_inoperative: bool = False) -> str:
        if self.fault is not None:
            return "Faulted"
        if self.transaction is not None:
            if self.transaction.invalid or self.offered_w <= 0:
                return "SuspendedEVSE"  # takes precedence over SuspendedEV (§4.9)
            if self.ev is None or self.ev.acceptance_w() <= 0:
                return "SuspendedEV"
            return "Charging"
        if self.inoperative or station_inoperative:
            return "Unavailable"
        if self.finishing and self.ev is not None:
            return "Finishing"
        if self.ev is not None or self.authorization is not None:
            return "Preparing"
        return "Available"


class Charger:
    def __init__(
        self, spec: ChargerSpec, *, heartbeat_interval: int = 300, meter_sample_interval: int = 60
    ) -> None:
        self.spec = spec
        self.configuration: Configuration = default_configuration(
            connectors=spec.connectors,
            password=spec.password,
            heartbeat_interval=heartbeat_interval,
            meter_sample_interval=meter_sample_interval,
        )
        self.connectors = {n: Connector(n) for n in range(1, spec.connectors + 1)}
        config = self.configuration
        self.profiles = InstalledProfiles(
            max_stack_level=config.integer("ChargeProfileMaxStackLevel"),
            max_periods=config.integer("ChargingScheduleMaxPeriods"),
            max_profiles=config.integer("MaxChargingProfilesInstalled"),
            rate_units=[
                ChargingRateUnit.A if unit == "Current" else ChargingRateUnit.W
                for unit in config.csl("ChargingScheduleAllowedChargingRateUnit")
            ],
        )
        self.inoperative = False  # the whole charge point (connector 0)
        self.fault: str | None = None  # the whole charge point
        self.announced: tuple[str, str] | None = None  # connector 0's status, as above
        self.reported: tuple[str, str] | None = None
        self._physics_at: datetime | None = None

    def connector(self, connector_id: int) -> Connector | None:
        return self.connectors.get(connector_id)

    def station_status(self) -> str:
        if self.fault is not None:
            return "Faulted"
        return "Unavailable" if self.inoperative else "Available"

    @property
    def total_max_w(self) -> float:
        return self.spec.max_power_w * self.spec.connectors

    # --- physics -------------------------------------------------------------------------------
    def advance(self, now: datetime) -> None:
        """Charge every plugged-in EV up to `now`, in steps short enough to follow the taper."""
        moment = self._physics_at or now
        while moment < now:
            step_end = min(now, moment + timedelta(seconds=MAX_STEP_SECONDS))
            seconds = (step_end - moment).total_seconds()
            for connector, offer in self._offers(moment).items():
                if connector.charging:
                    assert connector.ev is not None
                    power = connector.ev.charge(offer, seconds)
                    connector.energy_wh += power * seconds / 3600.0
            moment = step_end
        self._physics_at = now
        for connector, offer in self._offers(now).items():
            ev = connector.ev
            connector.offered_w = offer
            connector.power_w = ev.draw_w(offer) if ev is not None and connector.charging else 0.0

    def _offers(self, moment: datetime) -> dict[Connector, float]:
        """What each connector may draw at `moment`: its own composite limit, and a fair share
        of the ChargePointMaxProfile's limit when the EVs together want more than that."""
        own = {c: self._limit_w(c.id, moment, c.transaction) for c in self.connectors.values()}
        left = self._limit_w(0, moment, None)
        offers = {c: min(limit, left) for c, limit in own.items()}
        charging = [c for c in own if c.charging and c.ev is not None]
        wants = {c: min(own[c], c.ev.acceptance_w()) for c in charging if c.ev is not None}
        if sum(wants.values()) > left:  # share out the cap, the most modest wants first
            for served, connector in enumerate(sorted(charging, key=wants.__getitem__)):
                share = left / (len(charging) - served)
                offers[connector] = min(own[connector], share)
                left -= min(wants[connector], share)
        return {c: offer if offer >= self.spec.min_power_w else 0.0 for c, offer in offers.items()}

    def _limit_w(self, connector_id: int, moment: datetime, tx: Transaction | None) -> float:
        spec = self.spec
        own_max = self.total_max_w if connector_id == 0 else spec.max_power_w
        limit = limit_at(
            self.profiles,
            connector_id,
            moment,
            ChargingRateUnit.W,
            transaction_start=tx.started_at if tx else None,
            voltage=spec.voltage,
            phases=spec.phases,
            now_transaction_id=tx.ocpp_id if tx else None,
            max_limit=own_max,
        )
        return own_max if limit is None else limit

    def reading(self, connector: Connector) -> Reading:
        return Reading(
            energy_wh=connector.energy_wh,
            power_w=connector.power_w,
            offered_w=connector.offered_w,
            phases=self.spec.phases,
            voltage=self.spec.voltage,
            soc=connector.ev.soc if connector.ev is not None else None,
        )

    def station_reading(self) -> Reading:
        """The charge point as a whole (connector 0): the sum of its connectors."""
        connectors = self.connectors.values()
        return Reading(
            energy_wh=sum(c.energy_wh for c in connectors),
            power_w=sum(c.power_w for c in connectors),
            offered_w=sum(c.offered_w for c in connectors),
            phases=self.spec.phases,
            voltage=self.spec.voltage,
            soc=None,
        )
