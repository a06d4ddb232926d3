"""What a connector's meter reports: OCPP MeterValue elements from one reading."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ampnexus.domain.time import format_timestamp


@dataclass(frozen=True, slots=True)
class Reading:
    energy_wh: float  # the connector's register
    power_w: float  # drawn now
    offered_w: float  # what the charger allows now
    phases: int
    voltage: float
    soc: float | None  # None when no EV is plugged in


def meter_value(
    timestamp: datetime, reading: Reading, measurands: list[str], context: str
) -> dict[str, Any]:
    """One MeterValue with a sampled value per configured measurand (per phase for
    currents and voltage, as seen from the grid side: L1 for a one-phase charger)."""
    samples: list[dict[str, Any]] = []
    for measurand in measurands:
        samples.extend(_samples(measurand, reading))
    for sample in samples:
        sample["context"] = context
    return {"timestamp": format_timestamp(timestamp), "sampledValue": samples}


def _samples(measurand: str, r: Reading) -> list[dict[str, Any]]:
    phases = [f"L{n}" for n in range(1, r.phases + 1)]
    per_phase = r.voltage * r.phases
    if measurand == "Energy.Active.Import.Register":
        return [_sample(measurand, f"{r.energy_wh:.0f}", "Wh")]
    if measurand == "Power.Active.Import":
        return [_sample(measurand, f"{r.power_w:.1f}", "W")]
    if measurand == "Power.Offered":
        return [_sample(measurand, f"{r.offered_w:.1f}", "W")]
    if measurand == "Current.Import":
        amps = f"{r.power_w / per_phase:.2f}"
        return [_sample(measurand, amps, "A", phase) for phase in phases]
    if measurand == "Current.Offered":
        return [_sample(measurand, f"{r.offered_w / per_phase:.2f}", "A")]
    if measurand == "Voltage":
        return [_sample(measurand, f"{r.voltage:.1f}", "V", f"{phase}-N") for phase in phases]
    if measurand == "SoC" and r.soc is not None:
        return [_sample(measurand, f"{r.soc:.1f}", "Percent", location="EV")]
    return []


def _sample(
    measurand: str, value: str, unit: str, phase: str | None = None, location: str = "Outlet"
) -> dict[str, Any]:
    sample = {"value": value, "measurand": measurand, "unit": unit, "location": location}
    if phase is not None:
        sample["phase"] = phase
    return sample
