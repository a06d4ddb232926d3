"""What the planner is given and what it returns. Plain values, SI units inside:
power in W, energy in Wh, current in A, money per kWh, carbon in g/kWh, time in UTC.

A plan covers a grid of equal slots starting at `SlotGrid.start`. Every series
(base load, solar, prices, carbon, cap) has one value per slot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import IntEnum

PHASES = (1, 2, 3)
# Unmet energy of an expected (forecast) session, relative to a real one of its priority: low
# enough that a real EV is never sacrificed for a forecast one, high enough (with the default
# unmet_per_kwh of 10, 1 per kWh) to outweigh any price difference, so room is kept for it.
EXPECTED_WEIGHT = 0.1
# Deferral hedge (ADR 0005): per hour a kWh is planned later, the share of its unmet value
# taken as at risk when the limits it charges under are fully subscribed (congestion 1); EVs
# no forecast knows of may claim that later room. Applied only when the request holds
# expected sessions (a forecast says more EVs will come). Fitted on five October 2019 Caltech
# days (bench/planner.py DAYS): at 0.008/h smart stays within 1% of perfect foresight's energy
# and 2% of its cost per kWh at every site limit there; 0.006 falls short on energy at the
# tightest. On the other October weekdays the energy holds and the cost is 2.2-3.1% higher.
DEFER_RISK_PER_HOUR = 0.008
# The risk grows with the cube of congestion: negligible while the need is well under what
# the limits can deliver (costs then rule alone), steep as it approaches it.
CONGESTION_EXPONENT = 3


class Priority(IntEnum):
    """Higher is served first; the planner weights unmet energy by this."""

    STANDARD = 1
    PREMIUM = 2

    @property
    def unmet_weight(self) -> float:
        """Multiplier on `Weights.unmet_per_kwh`: each class counts ten times the one below."""
        return 10.0 ** (self - 1)


@dataclass(frozen=True, slots=True)
class SlotGrid:
    """`count` slots of `slot_seconds` from `start`, a slot boundary. A plan made in the
    middle of a slot says how much of slot 0 has gone (`elapsed_seconds`): energy in that
    slot is its power times what is left, or every replan mid-slot would count on minutes
    already past and leave drivers short."""

    start: datetime
    slot_seconds: int
    count: int
    elapsed_seconds: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.elapsed_seconds < self.slot_seconds:
            raise ValueError("elapsed_seconds must lie within the first slot")

    @property
    def slot_hours(self) -> float:
        """A whole slot's length."""
        return self.slot_seconds / 3600

    def hours_left(self, index: int) -> float:
        """How long slot `index` still lasts: a whole slot, less what is past of slot 0."""
        return (self.slot_seconds - (self.elapsed_seconds if index == 0 else 0.0)) / 3600

    def slot_start(self, index: int) -> datetime:
        return self.start + timedelta(seconds=index * self.slot_seconds)

    @property
    def end(self) -> datetime:
        return self.slot_start(self.count)

    def index_at(self, moment: datetime) -> int:
        """The slot containing `moment` (may be < 0 or >= count)."""
        return int((moment - self.start).total_seconds() // self.slot_seconds)


@dataclass(frozen=True, slots=True)
class Circuit:
    """A node of the site's fuse tree. `parent_id` None means the grid connection itself."""

    id: str
    parent_id: str | None
    max_power_w: float | None = None
    max_current_a: float | None = None  # per phase


@dataclass(frozen=True, slots=True)
class Session:
    """A plugged-in (or expected) EV at a connector, as the planner sees it."""

    id: str
    circuit_id: str
    arrival: datetime
    departure: datetime
    energy_wh: float  # still needed
    max_power_w: float
    min_power_w: float = 0.0  # lowest non-zero rate the charger can hold (6 A)
    phases: tuple[int, ...] = (1, 2, 3)  # grid phases it draws on, after phase rotation
    priority: Priority = Priority.STANDARD
    # Slots in which charging is not allowed (modes, regulation windows); indices into the grid.
    blocked_slots: frozenset[int] = frozenset()
    # Slots only partly open (a window or delay starts or ends inside): (index, share open),
    # the share of the slot's time it may charge; its power is the rate in that open part.
    open_shares: tuple[tuple[int, float], ...] = ()
    # Slots with a lower ceiling than max_power_w (an operator's charging profile, kept as an
    # upper bound): (index, the most it may draw there, W).
    slot_caps_w: tuple[tuple[int, float], ...] = ()
    # True when the charger refuses profiles: it draws max_power_w, the plan works around it.
    uncontrollable: bool = False
    # True for a forecast of an EV not yet plugged in: the plan reserves room for it, but its
    # unmet energy weighs only EXPECTED_WEIGHT of a real session's, so real EVs come first.
    expected: bool = False

    @property
    def unmet_weight(self) -> float:
        """Multiplier on `Weights.unmet_per_kwh` for this session's unmet energy."""
        return self.priority.unmet_weight * (EXPECTED_WEIGHT if self.expected else 1.0)


@dataclass(frozen=True, slots=True)
class SiteSeries:
    """Per-slot forecasts and prices. Empty tuples mean 'zero' (or 'no limit' for cap_w)."""

    base_load_w: tuple[float, ...] = ()
    solar_w: tuple[float, ...] = ()
    import_price: tuple[float, ...] = ()  # per kWh
    export_price: tuple[float, ...] = ()  # per kWh
    carbon_g_per_kwh: tuple[float, ...] = ()
    cap_w: tuple[float, ...] = ()  # extra import cap per slot (grid signals, demand response)


@dataclass(frozen=True, slots=True)
class Weights:
    carbon_per_kg: float = 0.0  # money per kg CO2 the site is willing to pay to avoid
    demand_charge_per_kw: float = 0.0  # money per kW of peak import over the horizon
    unmet_per_kwh: float = 10.0  # penalty per kWh not delivered, times Priority.unmet_weight
    # Hedge for EVs not known yet: charging an hour later costs this share of the unmet value,
    # times congestion ** CONGESTION_EXPONENT. 0 plans on costs alone (perfect foresight).
    defer_risk_per_hour: float = DEFER_RISK_PER_HOUR


@dataclass(frozen=True, slots=True)
class PlanRequest:
    grid: SlotGrid
    circuits: tuple[Circuit, ...]
    sessions: tuple[Session, ...]
    series: SiteSeries = field(default_factory=SiteSeries)
    voltage: float = 230.0
    safety_margin: float = 0.0  # fraction of every limit kept free
    weights: Weights = field(default_factory=Weights)


@dataclass(frozen=True, slots=True)
class SlotExplanation:
    """Why a slot looks the way it does: the constraint that binds, if any."""

    cap_w: float
    base_load_w: float
    solar_w: float
    import_price: float | None
    binding: str | None  # e.g. "site power", "circuit C1 phase L2", "price", None


@dataclass(frozen=True, slots=True)
class Plan:
    grid: SlotGrid
    power_w: dict[str, tuple[float, ...]]  # session id -> W per slot
    unmet_wh: dict[str, float]
    method: str  # "highs", "heuristic", ...
    solve_ms: float
    slots: tuple[SlotExplanation, ...] = ()
    status: str = "optimal"

    def energy_wh(self, session_id: str, open_shares: tuple[tuple[int, float], ...] = ()) -> float:
        shares = dict(open_shares)
        return sum(
            p * self.grid.hours_left(t) * shares.get(t, 1.0)
            for t, p in enumerate(self.power_w[session_id])
        )
