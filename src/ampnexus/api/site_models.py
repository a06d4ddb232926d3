"""Request and response bodies for sites, circuits, charger placement, tariffs, series,
driver profiles and session needs.

Units at this edge: site and circuit limits in kW and A per phase, charger and driver power
caps in W, energy in kWh, prices per kWh in the site's currency units, times of day site-local
"HH:MM", instants ISO 8601 (no offset means UTC).
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator

from ampnexus.api.models import Strict, UtcDatetime
from ampnexus.domain.charging_mode import ChargingMode
from ampnexus.domain.driver import DriverProfile, PriorityClass
from ampnexus.domain.needs import SessionNeed
from ampnexus.domain.series import Point
from ampnexus.domain.site import (
    DEFAULT_DEPARTURE,
    DEFAULT_ENERGY_WH,
    Circuit,
    Placement,
    Site,
)
from ampnexus.domain.tariff import (
    EVERY_DAY,
    WEEKDAYS,
    WEEKENDS,
    Band,
    PricePeriod,
    Tariff,
    TariffKind,
)

Id = Annotated[str, Field(min_length=1, max_length=48, pattern=r"^[A-Za-z0-9._\-]+$")]
Kw = Annotated[float, Field(gt=0, le=1e6)]
Amps = Annotated[float, Field(gt=0, le=1e5)]
Watts = Annotated[float, Field(gt=0, le=1e9)]
Kwh = Annotated[float, Field(gt=0, le=1e6)]
Price = Annotated[float, Field(ge=-1e6, le=1e6, allow_inf_nan=False)]
Phases = Literal[1, 2, 3]
# OCPP ConnectorPhaseRotation, as domain.site.PHASE_ROTATIONS and UNKNOWN_ROTATIONS
Rotation = Literal["RST", "RTS", "SRT", "STR", "TRS", "TSR", "NotApplicable", "Unknown"]
# A site's default charging mode: schedule is left out, its windows are each charger's own.
DefaultMode = Literal["regulation_compliance", "plug_and_charge", "smart", "user_controlled"]
DEFAULT_MODE_DESCRIPTION = (
    "The charging mode of the site's chargers that have none of their own (PUT "
    "/charge-points/{id}/mode); null: smart. regulation_compliance takes the Regulations' "
    "default peak windows and delay; schedule cannot be a default"
)


def _not_null(value: Any) -> Any:
    if value is None:
        raise ValueError("may be left out, but not null")
    return value


def _w(kw: float | None) -> float | None:
    return None if kw is None else kw * 1000


def _kw(w: float | None) -> float | None:
    return None if w is None else w / 1000


# --- sites -----------------------------------------------------------------------------------
class SiteCreate(Strict):
    id: Id = Field(examples=["depot-north"])
    name: str = Field(min_length=1, max_length=100)
    time_zone: str = Field(min_length=1, max_length=64, examples=["Europe/London"])
    grid_limit_kw: Kw | None = Field(None, description="The grid connection's power limit")
    grid_limit_a: Amps | None = Field(None, description="The grid connection's fuse, A per phase")
    phases: Phases = 3
    voltage: float = Field(230.0, gt=0, le=1000, description="Nominal, line to neutral")
    safety_margin: float = Field(0.0, ge=0, lt=1, description="Fraction of every limit kept free")
    default_energy_kwh: Kwh = Field(
        DEFAULT_ENERGY_WH / 1000, description="Assumed need of a session nobody described"
    )
    default_departure: time = Field(
        DEFAULT_DEPARTURE, description="Assumed departure, site-local time of day"
    )
    default_mode: DefaultMode | None = Field(None, description=DEFAULT_MODE_DESCRIPTION)

    def to_domain(self) -> Site:
        return Site(
            id=self.id,
            name=self.name,
            time_zone=self.time_zone,
            grid_limit_w=_w(self.grid_limit_kw),
            grid_limit_a=self.grid_limit_a,
            phases=self.phases,
            voltage=self.voltage,
            safety_margin=self.safety_margin,
            default_energy_wh=self.default_energy_kwh * 1000,
            default_departure=self.default_departure,
            default_mode=None if self.default_mode is None else ChargingMode(self.default_mode),
        )


class SiteUpdate(Strict):
    name: str | None = Field(None, min_length=1, max_length=100)
    time_zone: str | None = Field(None, min_length=1, max_length=64)
    grid_limit_kw: Kw | None = None
    grid_limit_a: Amps | None = None
    phases: Phases | None = None
    voltage: float | None = Field(None, gt=0, le=1000)
    safety_margin: float | None = Field(None, ge=0, lt=1)
    default_energy_kwh: Kwh | None = None
    default_departure: time | None = None
    default_mode: DefaultMode | None = Field(None, description=DEFAULT_MODE_DESCRIPTION)

    _no_nulls = field_validator(
        "name",
        "time_zone",
        "phases",
        "voltage",
        "safety_margin",
        "default_energy_kwh",
        "default_departure",
    )(_not_null)

    def changes(self) -> dict[str, Any]:
        """The fields given, under the domain's names and units (null clears a limit)."""
        given = self.model_dump(exclude_unset=True)
        if "grid_limit_kw" in given:
            given["grid_limit_w"] = _w(given.pop("grid_limit_kw"))
        if "default_energy_kwh" in given:
            given["default_energy_wh"] = given.pop("default_energy_kwh") * 1000
        if given.get("default_mode") is not None:
            given["default_mode"] = ChargingMode(given["default_mode"])
        return given


class SiteOut(BaseModel):
    id: str
    name: str
    time_zone: str
    grid_limit_kw: float | None
    grid_limit_a: float | None
    phases: int
    voltage: float
    safety_margin: float
    default_energy_kwh: float
    default_departure: time
    default_mode: str | None = Field(description=DEFAULT_MODE_DESCRIPTION)
    created_at: datetime | None

    @classmethod
    def of(cls, site: Site) -> SiteOut:
        return cls(
            id=site.id,
            name=site.name,
            time_zone=site.time_zone,
            grid_limit_kw=_kw(site.grid_limit_w),
            grid_limit_a=site.grid_limit_a,
            phases=site.phases,
            voltage=site.voltage,
            safety_margin=site.safety_margin,
            default_energy_kwh=site.default_energy_wh / 1000,
            default_departure=site.default_departure,
            default_mode=None if site.default_mode is None else site.default_mode.value,
            created_at=site.created_at,
        )


# --- circuits --------------------------------------------------------------------------------
class CircuitCreate(Strict):
    id: Id = Field(examples=["main"])
    parent_id: Id | None = Field(None, description="None for the site's one root circuit")
    name: str | None = Field(None, max_length=100)
    limit_kw: Kw | None = None
    limit_a: Amps | None = Field(None, description="A per phase")

    def to_domain(self, site_id: str) -> Circuit:
        return Circuit(
            site_id=site_id,
            id=self.id,
            parent_id=self.parent_id,
            name=self.name,
            max_power_w=_w(self.limit_kw),
            max_current_a=self.limit_a,
        )


class CircuitUpdate(Strict):
    parent_id: Id | None = None
    name: str | None = Field(None, max_length=100)
    limit_kw: Kw | None = None
    limit_a: Amps | None = None

    def changes(self) -> dict[str, Any]:
        given = self.model_dump(exclude_unset=True)
        renamed = {"limit_kw": "max_power_w", "limit_a": "max_current_a"}
        changes = {renamed.get(key, key): value for key, value in given.items()}
        if "max_power_w" in changes:
            changes["max_power_w"] = _w(changes["max_power_w"])
        return changes


class CircuitOut(BaseModel):
    site_id: str
    id: str
    parent_id: str | None
    name: str | None
    limit_kw: float | None
    limit_a: float | None

    @classmethod
    def of(cls, circuit: Circuit) -> CircuitOut:
        return cls(
            site_id=circuit.site_id,
            id=circuit.id,
            parent_id=circuit.parent_id,
            name=circuit.name,
            limit_kw=_kw(circuit.max_power_w),
            limit_a=circuit.max_current_a,
        )


# --- charger placement -----------------------------------------------------------------------
class PlacementIn(Strict):
    """The whole placement: a field left out is cleared (`{}` takes the charger off its site)."""

    site_id: Id | None = None
    circuit_id: Id | None = Field(None, description="One of the site's circuits")
    phases: Phases | None = Field(None, description="Phases the charger uses")
    max_power_w: Watts | None = None
    phase_rotation: Rotation | None = Field(
        None, description="OCPP ConnectorPhaseRotation: SRT puts the charger's L1 on the grid's L2"
    )

    def to_domain(self, charge_point_id: str) -> Placement:
        return Placement(charge_point_id, **self.model_dump())


class PlacementOut(BaseModel):
    charge_point_id: str
    site_id: str | None
    circuit_id: str | None
    phases: int | None
    max_power_w: float | None
    phase_rotation: str | None
    grid_phases: list[int] = Field(description="Grid phases it draws on, after rotation")

    @classmethod
    def of(cls, placement: Placement) -> PlacementOut:
        return cls(
            charge_point_id=placement.charge_point_id,
            site_id=placement.site_id,
            circuit_id=placement.circuit_id,
            phases=placement.phases,
            max_power_w=placement.max_power_w,
            phase_rotation=placement.phase_rotation,
            grid_phases=list(placement.grid_phases()),
        )


# --- tariffs ---------------------------------------------------------------------------------
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DaySet = Literal["all", "weekdays", "weekends"]
DayName = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAY_SETS = {"all": EVERY_DAY, "weekdays": WEEKDAYS, "weekends": WEEKENDS}


class BandIn(Strict):
    start: time = Field(examples=["00:00"], description="Site-local, inclusive")
    end: time = Field(
        examples=["07:00"], description="Exclusive; at or before start runs past midnight"
    )
    import_price: Price
    export_price: Price | None = None
    days: DaySet | Annotated[list[DayName], Field(max_length=7)] = Field(
        "all", description="The days the band starts on"
    )

    def to_domain(self) -> Band:
        if isinstance(self.days, str):
            days = DAY_SETS[self.days]
        else:
            days = frozenset(DAY_NAMES.index(day) for day in self.days)
        return Band(self.start, self.end, self.import_price, self.export_price, days)


class BandOut(BaseModel):
    start: time
    end: time
    import_price: float
    export_price: float | None
    days: list[str]

    @classmethod
    def of(cls, band: Band) -> BandOut:
        return cls(
            start=band.start,
            end=band.end,
            import_price=band.import_price,
            export_price=band.export_price,
            days=[DAY_NAMES[day] for day in sorted(band.days)],
        )


class TariffCreate(Strict):
    name: str = Field(min_length=1, max_length=100)
    kind: Literal["fixed", "time_of_use", "dynamic"]
    import_price: Price | None = Field(
        None, description="fixed: the price; otherwise where no band or dynamic price applies"
    )
    export_price: Price | None = None
    bands: list[BandIn] = Field(default_factory=list, max_length=200)
    valid_from: UtcDatetime | None = Field(
        None, description="In force from then on (the latest valid_from wins)"
    )

    def to_domain(self, site_id: str) -> Tariff:
        return Tariff(
            site_id=site_id,
            name=self.name,
            kind=TariffKind(self.kind),
            import_price=self.import_price,
            export_price=self.export_price,
            bands=tuple(band.to_domain() for band in self.bands),
            valid_from=self.valid_from,
        )


class TariffOut(BaseModel):
    id: int
    site_id: str
    name: str
    kind: str
    import_price: float | None
    export_price: float | None
    bands: list[BandOut]
    valid_from: datetime | None
    created_at: datetime | None

    @classmethod
    def of(cls, tariff: Tariff) -> TariffOut:
        assert tariff.id is not None
        return cls(
            id=tariff.id,
            site_id=tariff.site_id,
            name=tariff.name,
            kind=tariff.kind.value,
            import_price=tariff.import_price,
            export_price=tariff.export_price,
            bands=[BandOut.of(band) for band in tariff.bands],
            valid_from=tariff.valid_from,
            created_at=tariff.created_at,
        )


class PriceIn(Strict):
    start: UtcDatetime
    end: UtcDatetime
    import_price: Price
    export_price: Price | None = None

    def to_domain(self) -> PricePeriod:
        return PricePeriod(self.start, self.end, self.import_price, self.export_price)


class PriceOut(BaseModel):
    start: datetime
    end: datetime
    import_price: float
    export_price: float | None

    @classmethod
    def of(cls, period: PricePeriod) -> PriceOut:
        return cls(
            start=period.start,
            end=period.end,
            import_price=period.import_price,
            export_price=period.export_price,
        )


class PricesStored(BaseModel):
    stored: int = Field(description="Price periods stored")
    replaced: int = Field(description="Stored periods they overlapped, now replaced")


# --- series ----------------------------------------------------------------------------------
class PointIn(Strict):
    timestamp: UtcDatetime
    value: float = Field(ge=-1e12, le=1e12, allow_inf_nan=False)

    def to_domain(self) -> Point:
        return Point(self.timestamp, self.value)


class PointsIn(Strict):
    points: list[PointIn] = Field(min_length=1, max_length=10_000)

    def to_domain(self) -> list[Point]:
        return [point.to_domain() for point in self.points]


class SolarIn(PointsIn):
    kind: Literal["measured", "forecast"]


class PointOut(BaseModel):
    timestamp: datetime
    value: float

    @classmethod
    def of(cls, point: Point) -> PointOut:
        return cls(timestamp=point.timestamp, value=point.value)


class PointsStored(BaseModel):
    stored: int


# --- driver profiles -------------------------------------------------------------------------
IdTagText = Annotated[str, Field(min_length=1, max_length=20)]


class DriverProfileCreate(Strict):
    name: str = Field(min_length=1, max_length=100)
    priority: Literal["premium", "standard"] = Field(
        "standard",
        description="premium: full power at any time; standard: shifted to cheap or green "
        "hours when that still meets the need",
    )
    max_power_w: Watts | None = Field(None, description="Caps this driver's sessions")
    default_energy_kwh: Kwh | None = None
    default_departure: time | None = Field(None, description="Site-local time of day")
    id_tags: list[IdTagText] = Field(default_factory=list, max_length=100)

    def to_domain(self) -> DriverProfile:
        return DriverProfile(
            name=self.name,
            priority=PriorityClass(self.priority),
            max_power_w=self.max_power_w,
            default_energy_wh=_w(self.default_energy_kwh),
            default_departure=self.default_departure,
            id_tags=tuple(self.id_tags),
        )


class DriverProfileUpdate(Strict):
    name: str | None = Field(None, min_length=1, max_length=100)
    priority: Literal["premium", "standard"] | None = None
    max_power_w: Watts | None = None
    default_energy_kwh: Kwh | None = None
    default_departure: time | None = None
    id_tags: list[IdTagText] | None = Field(None, max_length=100, description="Replaces the set")

    _no_nulls = field_validator("name", "priority", "id_tags")(_not_null)

    def changes(self) -> dict[str, Any]:
        given = self.model_dump(exclude_unset=True)
        if "priority" in given:
            given["priority"] = PriorityClass(given["priority"])
        if "default_energy_kwh" in given:
            given["default_energy_wh"] = _w(given.pop("default_energy_kwh"))
        if "id_tags" in given:
            given["id_tags"] = tuple(given["id_tags"])
        return given


class DriverProfileOut(BaseModel):
    id: int
    name: str
    priority: str
    max_power_w: float | None
    default_energy_kwh: float | None
    default_departure: time | None
    id_tags: list[str]
    created_at: datetime | None

    @classmethod
    def of(cls, profile: DriverProfile) -> DriverProfileOut:
        assert profile.id is not None
        return cls(
            id=profile.id,
            name=profile.name,
            priority=profile.priority.value,
            max_power_w=profile.max_power_w,
            default_energy_kwh=_kw(profile.default_energy_wh),
            default_departure=profile.default_departure,
            id_tags=list(profile.id_tags),
            created_at=profile.created_at,
        )


# --- session needs ---------------------------------------------------------------------------
class NeedIn(Strict):
    """Energy (or a target state of charge with the battery's size) and/or departure."""

    energy_kwh: Kwh | None = None
    target_soc: float | None = Field(None, gt=0, le=100, description="Percent")
    battery_kwh: Kwh | None = Field(None, description="Turns a target SoC into energy")
    departure: UtcDatetime | None = None

    def fields(self) -> dict[str, Any]:
        return {
            "energy_wh": _w(self.energy_kwh),
            "target_soc": self.target_soc,
            "battery_wh": _w(self.battery_kwh),
            "departure": self.departure,
        }


class NeedOut(BaseModel):
    transaction_id: int | None
    id_tag: str | None
    energy_kwh: float | None
    target_soc: float | None
    battery_kwh: float | None
    departure: datetime | None
    updated_at: datetime | None

    @classmethod
    def of(cls, need: SessionNeed) -> NeedOut:
        return cls(
            transaction_id=need.transaction_id,
            id_tag=need.id_tag,
            energy_kwh=_kw(need.energy_wh),
            target_soc=need.target_soc,
            battery_kwh=_kw(need.battery_wh),
            departure=need.departure,
            updated_at=need.updated_at,
        )
