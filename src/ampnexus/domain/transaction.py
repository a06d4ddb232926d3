"""Charging sessions and the meter readings taken during them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

# No meter reads a trillion of anything (W, Wh, A, V, %): a larger magnitude is a fault or
# garbage, kept as the charger sent it but never handed to planning as a number.
MAX_READING = 1e12


@dataclass(frozen=True, slots=True)
class SampledValue:
    """One OCPP sampled value, kept as the charger sent it plus a parsed number."""

    value: str
    measurand: str = "Energy.Active.Import.Register"
    unit: str | None = None
    phase: str | None = None
    context: str | None = None
    location: str | None = None
    format: str | None = None

    @property
    def number(self) -> float | None:
        """The value as a finite number of plausible size, else None (NaN, Infinity,
        1e999 and SignedData values are stored only as the text they came as)."""
        try:
            number = float(self.value)
        except ValueError:
            return None
        return number if abs(number) <= MAX_READING else None  # False for NaN and infinity


@dataclass(frozen=True, slots=True)
class MeterReading:
    timestamp: datetime
    sampled_values: tuple[SampledValue, ...]


@dataclass(frozen=True, slots=True)
class TransactionStart:
    charge_point_id: str
    connector_id: int
    id_tag: str
    meter_start: int
    timestamp: datetime
    reservation_id: int | None = None
    # Answered a RemoteStartTransaction (the API's or plug & charge's): the service decides.
    started_remotely: bool = False


@dataclass(frozen=True, slots=True)
class TransactionOwner:
    """The charger that started a transaction, and on which connector: fixed for life."""

    charge_point_id: str
    connector_id: int
    meter_start: int = 0  # Wh: what its energy is counted from


@dataclass(frozen=True, slots=True)
class TransactionStop:
    charge_point_id: str
    transaction_id: int
    meter_stop: int
    timestamp: datetime
    id_tag: str | None = None
    reason: str | None = None
    transaction_data: tuple[MeterReading, ...] = ()


@dataclass(frozen=True, slots=True)
class Transaction:
    id: int
    charge_point_id: str
    connector_id: int
    id_tag: str
    meter_start: int
    started_at: datetime
    stopped_at: datetime | None = None
    meter_stop: int | None = None
    stop_reason: str | None = None
    stop_id_tag: str | None = None
    meter_values: tuple[MeterReading, ...] = field(default_factory=tuple)
    charge_now: bool = False  # the owner's override: no mode holds this session back
    started_remotely: bool = False  # started through the API (RemoteStartTransaction)
    reservation_id: int | None = None  # the reservation its StartTransaction named
    # Why the CSMS closed it itself (its charger never sent the StopTransaction); None when
    # the charger stopped it.
    stop_detail: str | None = None

    @property
    def active(self) -> bool:
        return self.stopped_at is None

    @property
    def energy_wh(self) -> int | None:
        return energy_wh(self.meter_start, self.meter_stop)


@dataclass(frozen=True, slots=True)
class SessionFilter:
    """What narrows a list of sessions beyond charger and state (None: no bound).
    `site_id`: chargers placed on the site now; `id_tag`: the tag that started it;
    `since`/`until`: when it started, in [since, until); `before_id`: ids below it, so an
    export pages by id and neither skips nor repeats a session while new ones start."""

    site_id: str | None = None
    id_tag: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None


NO_FILTER = SessionFilter()


@dataclass(frozen=True, slots=True)
class ReadingFilter:
    """Which of a charger's readings: on `connector_id` (0: the charger's main meter), taken
    in [since, until); None: no bound."""

    connector_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class ChargerReading:
    """One sampled value a charger sent outside any transaction (a MeterValues without a
    transactionId: a connector's or the main meter's reading)."""

    connector_id: int
    timestamp: datetime
    sample: SampledValue
    received_at: datetime


@dataclass(frozen=True, slots=True)
class LeftOpen:
    """The open transactions on a connector that its charger can no longer be running:
    other than `other_than`, started by `started_by` (charger's time), received before
    `received_before` (server's time); None: no such bound. Closed with `reason` and
    `detail`, at their latest reading, else at `fallback_at`."""

    charge_point_id: str
    connector_id: int
    reason: str
    detail: str
    fallback_at: datetime
    other_than: int | None = None
    started_by: datetime | None = None
    received_before: datetime | None = None


# Why the CSMS closes a transaction its charger left open (stop_reason; OCPP's own reasons
# are spelled in CamelCase, these are not, so they are told apart).
SUPERSEDED = "superseded"
CHARGER_REBOOTED = "charger_rebooted"


def energy_wh(meter_start: int, meter_stop: int | None) -> int | None:
    """Energy of a session from the charger's register; a meter reset never goes negative."""
    if meter_stop is None:
        return None
    return max(0, meter_stop - meter_start)


# OCPP's default unit per measurand, used when a sampled value names none.
DEFAULT_UNITS = {
    "Energy.Active.Import.Register": "Wh",
    "Energy.Active.Export.Register": "Wh",
    "Power.Active.Import": "W",
    "Power.Active.Export": "W",
    "Current.Import": "A",
    "Current.Export": "A",
    "Voltage": "V",
    "SoC": "Percent",
}


_POWER_SCALE = {"W": 1.0, "kW": 1000.0}
_ENERGY_SCALE = {"Wh": 1.0, "kWh": 1000.0}


def import_register_wh(reading: MeterReading) -> float | None:
    """The energy import register in Wh (the total, not a per-phase value)."""
    for sample in reading.sampled_values:
        if sample.measurand == "Energy.Active.Import.Register" and sample.phase is None:
            scale = _ENERGY_SCALE.get(sample.unit or "Wh")
            number = sample.number
            if scale is not None and number is not None:
                return number * scale
    return None


def import_power_w(reading: MeterReading) -> float | None:
    """Active import power of one reading in W: the total if the charger sent one, else the
    sum of its phases (L1, L2, L3; line-to-line or neutral values are not power per phase)."""
    total: float | None = None
    phases: dict[str, float] = {}
    for sample in reading.sampled_values:
        if sample.measurand != "Power.Active.Import":
            continue
        number = sample.number
        scale = _POWER_SCALE.get(sample.unit or "W")
        if number is None or scale is None:
            continue
        if sample.phase is None:
            total = number * scale
        elif sample.phase in ("L1", "L2", "L3"):
            phases[sample.phase] = number * scale
    if total is not None:
        return total
    return sum(phases.values()) if phases else None
