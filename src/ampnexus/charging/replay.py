"""Online replay of a scenario: step through its slots, let a strategy decide each slot's
powers knowing only what it could know then, apply them, and measure the outcome.

At slot t a strategy sees a `PlanRequest` starting at t and reaching the last departure it
knows of: the sessions that have arrived and still need energy (departure and remaining energy
as declared), and the forecasts for the coming slots (the scenario's series: perfect
forecasts). The powers it returns for the first slot are applied, clamped to what each EV
still needs; EVs on chargers that refuse profiles (`uncontrollable`) draw their maximum.

Strategies:
- `smart`: the planner on the rolling horizon. It plans again whenever the set of known
  sessions changes (an arrival, a departure, an EV full) and every `replan_every` slots
  (default 1: every slot); between replans it follows its last plan. With a forecast (the
  scenario's `forecast_sessions`), every plan also holds the expected sessions not yet due
  (arriving after the slot starts), the horizon stretched to their departures: their low
  unmet weight (`Session.unmet_weight`) keeps room for later arrivals without ever taking it
  from an EV that is there. Only the real sessions' powers are applied; an expected session
  leaves the plan once its arrival has passed, whether or not a real EV came.
  Without a forecast but told the site's chargers (`Smart.chargers`), it plans the prior of
  `charging.prior` instead (ADR 0007): the recent arrivals going on, fewer each hour.
  Each plan hedges against EVs the forecast misses (`Weights.defer_risk_per_hour`, ADR
  0005): energy planned later costs a little more, the more so the more congested the limits
  the EV charges under.
- `offline_optimal`: the planner once, at the start, with every session known in advance
  (perfect foresight, so without the hedge); its plan is then applied slot by slot.
- `uncontrolled`, `equal_share`, `edf`: the baselines, deciding every slot.

Metrics (`Metrics`), over the whole horizon, site bill view:
- `cost`: for every slot, import price x import kWh - export price x export kWh, where net
  import = base load + EVs - solar; plus the demand charge x peak import kW if the scenario
  has one. Base load is included.
- `cost_per_kwh`: the EVs' marginal cost: (cost - cost of the same site without EVs) / EV kWh
  delivered. Solar the EVs use is charged at the export price it would have earned.
- `carbon_kg`: carbon intensity x import kWh, base load included (site view).
- `peak_import_kw`: the highest net import of any slot.
- `peak_window_kwh`: EV energy drawn in slots starting inside the site's peak window.
- `cap_violations`: slots where the applied powers break a limit, judged by
  `check.violations` on that slot: site import over the grid connection or the cap, a site
  phase, a circuit's power or phase current (each less the safety margin), by more than the
  tolerance. A limit the base load alone breaks counts only if EVs still draw under it.
- `sessions_fully_met`: sessions that received at least 99% of their need.
- `solve_ms_p50` / `solve_ms_p95`: wall time of each decision (every planner call, slots
  with no EV to plan for skipped; every slot for the baselines).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Protocol

from ampnexus.charging import check
from ampnexus.charging.baselines import (
    EPSILON_W,
    STRATEGIES,
    Powers,
    Strategy,
    series_value,
)
from ampnexus.charging.model import Plan, PlanRequest, Session, SiteSeries, SlotGrid
from ampnexus.charging.planner import plan
from ampnexus.charging.prior import Charger, prior_sessions
from ampnexus.charging.problem import charging_slots
from ampnexus.charging.scenario import Scenario

Planner = Callable[[PlanRequest], Plan]
FULLY_MET = 0.99
SERIES_FIELDS = tuple(f.name for f in fields(SiteSeries))
OFFLINE_BUDGET_S = 120.0  # perfect foresight is the yardstick: let the LP finish
STRATEGY_NAMES = ("smart", "uncontrolled", "equal_share", "edf", "offline_optimal")


@dataclass(frozen=True, slots=True)
class Decision:
    powers: Mapping[str, float]
    solved: bool  # False when following an earlier plan (not timed)
    method: str | None = None


class Policy(Protocol):
    def decide(self, slot: int, view: PlanRequest, changed: bool) -> Decision: ...


@dataclass(frozen=True, slots=True)
class Metrics:
    strategy: str
    sessions: int
    energy_requested_kwh: float
    energy_delivered_kwh: float
    sessions_fully_met: int
    cost: float
    cost_per_kwh: float | None
    peak_import_kw: float
    cap_violations: int
    peak_window_kwh: float
    carbon_kg: float
    solve_ms_p50: float
    solve_ms_p95: float
    decisions: int
    methods: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Replay:
    metrics: Metrics
    power_w: dict[str, tuple[float, ...]]  # applied EV power per session and slot
    import_w: tuple[float, ...]  # net site import per slot (negative: export)
    violations: tuple[str, ...]  # e.g. "slot 12: site import 105000 W above the limit ..."
    solve_ms: tuple[float, ...]  # every timed decision


# --- strategies --------------------------------------------------------------------------------
class Baseline:
    def __init__(self, strategy: Strategy) -> None:
        self.strategy = strategy

    def decide(self, slot: int, view: PlanRequest, changed: bool) -> Decision:
        return Decision(self.strategy(view), solved=True)


class Smart:
    """The planner on the rolling horizon, following its last plan between replans.
    `outlook`: a request whose grid and series (never sessions) are the forecasts over the
    whole horizon, and `expected` the forecast sessions. Without a forecast, `chargers` (the
    site's) give the prior of `charging.prior` instead (ADR 0007); without either, only what
    has arrived is planned."""

    def __init__(
        self,
        planner: Planner,
        replan_every: int = 1,
        outlook: PlanRequest | None = None,
        expected: tuple[Session, ...] = (),
        chargers: tuple[Charger, ...] = (),
    ) -> None:
        self.planner = planner
        self.replan_every = max(1, replan_every)
        self.outlook, self.expected = outlook, expected
        self.chargers = chargers
        self.plan: Plan | None = None
        self.planned_at = 0

    def decide(self, slot: int, view: PlanRequest, changed: bool) -> Decision:
        if not view.sessions:  # nobody to plan for: no solve to time
            self.plan = None
            return Decision({}, solved=False)
        offset = slot - self.planned_at
        stale = self.plan is None or offset >= min(self.replan_every, self.plan.grid.count)
        if not (changed or stale):
            return Decision(_slot_powers(self.plan, offset), solved=False)
        expected = self.expected or prior_sessions(self.chargers, view.sessions, view.grid)
        if self.outlook is not None and expected:
            view = with_expected(self.outlook, slot, view, expected)
        self.plan, self.planned_at = self.planner(view), slot
        return Decision(_slot_powers(self.plan, 0), solved=True, method=self.plan.method)


class OfflineOptimal:
    """The planner once over the whole horizon, every session known in advance."""

    def __init__(self, planner: Planner, request: PlanRequest) -> None:
        self.planner = planner
        self.request = request
        self.plan: Plan | None = None

    def decide(self, slot: int, view: PlanRequest, changed: bool) -> Decision:
        if self.plan is None:
            self.plan = self.planner(self.request)
            return Decision(_slot_powers(self.plan, slot), solved=True, method=self.plan.method)
        return Decision(_slot_powers(self.plan, slot), solved=False)


def _slot_powers(plan: Plan | None, offset: int) -> Powers:
    if plan is None or not 0 <= offset < plan.grid.count:
        return {}
    return {sid: powers[offset] for sid, powers in plan.power_w.items()}


def make_policy(
    name: str,
    scenario: Scenario,
    *,
    planner: Planner | None = None,
    replan_every: int = 1,
    time_budget_s: float = 1.0,
) -> Policy:
    """The named strategy; `planner` replaces the real planner (smart and offline_optimal)."""
    if name in STRATEGIES:
        return Baseline(STRATEGIES[name])
    if name == "smart":
        outlook = replace(scenario.request, sessions=())  # forecasts only, no future sessions
        planner = planner or default_planner(time_budget_s)
        return Smart(planner, replan_every, outlook, scenario.forecast)
    if name == "offline_optimal":
        offline = planner or default_planner(OFFLINE_BUDGET_S)
        return OfflineOptimal(offline, foreseen(scenario.request))
    raise ValueError(f"unknown strategy {name!r}; expected one of {', '.join(STRATEGY_NAMES)}")


def foreseen(request: PlanRequest) -> PlanRequest:
    """The request as perfect foresight plans it: no EV can come unannounced, so no hedge
    against deferring (`Weights.defer_risk_per_hour` 0), costs alone."""
    return replace(request, weights=replace(request.weights, defer_risk_per_hour=0.0))


def default_planner(time_budget_s: float, method: str = "auto") -> Planner:
    return lambda request: plan(request, time_budget_s=time_budget_s, method=method)


# --- the replay --------------------------------------------------------------------------------
def replay(
    scenario: Scenario,
    strategy: str,
    *,
    policy: Policy | None = None,
    tolerance_w: float = 1.0,
    timer: Callable[[], float] = time.perf_counter,
) -> Replay:
    """Run a strategy through the scenario, one slot at a time. `policy` overrides how the
    named strategy is built (another planner, another replan interval)."""
    policy = policy or make_policy(strategy, scenario)
    request = scenario.request
    grid = request.grid
    windows = {s.id: charging_slots(grid, s) for s in request.sessions}
    remaining = {s.id: s.energy_wh for s in request.sessions}
    applied = {s.id: [0.0] * grid.count for s in request.sessions}
    solve_ms: list[float] = []
    methods: dict[str, int] = {}
    violations: list[str] = []
    known_before: set[str] = set()
    for slot in range(grid.count):
        known = [
            s for s in request.sessions if slot in windows[s.id] and remaining[s.id] > EPSILON_W
        ]
        view = rolling_view(request, slot, known, remaining, windows)
        started = timer()
        decision = policy.decide(slot, view, {s.id for s in known} != known_before)
        elapsed_ms = (timer() - started) * 1000
        if decision.solved:
            solve_ms.append(elapsed_ms)
        if decision.method:
            methods[decision.method] = methods.get(decision.method, 0) + 1
        known_before = {s.id for s in known}
        slot_w = {s.id: _applied_power(s, remaining[s.id], grid, decision.powers) for s in known}
        violations += slot_violations(request, slot, known, remaining, slot_w, tolerance_w)
        for sid, power in slot_w.items():
            applied[sid][slot] = power
            remaining[sid] -= power * grid.slot_hours
    power_w = {sid: tuple(values) for sid, values in applied.items()}
    metrics = measure(scenario, strategy, power_w, violations, solve_ms, methods)
    return Replay(
        metrics, power_w, net_import_w(request, power_w), tuple(violations), tuple(solve_ms)
    )


def rolling_view(
    request: PlanRequest,
    slot: int,
    known: list[Session],
    remaining: Mapping[str, float],
    windows: Mapping[str, range],
) -> PlanRequest:
    """What a strategy knows at `slot`: a grid from `slot` to the last known departure, the
    known sessions with the energy they still need, and the forecasts over that grid."""
    end = max((windows[s.id].stop for s in known), default=slot + 1)
    return _excerpt(request, slot, end, known, remaining)


def with_expected(
    outlook: PlanRequest, slot: int, view: PlanRequest, expected: tuple[Session, ...]
) -> PlanRequest:
    """`view` (starting at `slot` of `outlook`'s grid) plus the expected sessions arriving
    after that slot starts and able to charge before the horizon ends, the grid stretched to
    their last charging slot, the series taken from `outlook`."""
    due = [s for s in expected if s.arrival > view.grid.start and charging_slots(outlook.grid, s)]
    if not due:
        return view
    end = max(slot + view.grid.count, *(charging_slots(outlook.grid, s).stop for s in due))
    extended = _excerpt(outlook, slot, end, due, {s.id: s.energy_wh for s in due})
    return replace(extended, sessions=(*view.sessions, *extended.sessions))


def _excerpt(
    request: PlanRequest,
    start: int,
    end: int,
    sessions: list[Session],
    remaining: Mapping[str, float],
) -> PlanRequest:
    """The request cut to slots [start, end), with these sessions needing what remains."""
    grid = SlotGrid(request.grid.slot_start(start), request.grid.slot_seconds, end - start)
    cut = tuple(
        replace(
            s,
            energy_wh=remaining[s.id],
            blocked_slots=frozenset(b - start for b in s.blocked_slots if start <= b < end),
        )
        for s in sessions
    )
    series = SiteSeries(
        **{
            name: values[start:end]
            for name in SERIES_FIELDS
            if (values := getattr(request.series, name))
        }
    )
    return replace(request, grid=grid, sessions=cut, series=series)


def slot_violations(
    request: PlanRequest,
    slot: int,
    present: list[Session],
    remaining: Mapping[str, float],
    slot_w: Mapping[str, float],
    tolerance_w: float,
) -> list[str]:
    """The limits the applied powers break in `slot`, judged by `check.violations` on that
    slot alone (site import and cap, site phases, every circuit's power and phases)."""
    one = _excerpt(request, slot, slot + 1, present, remaining)
    applied = Plan(
        grid=one.grid,
        power_w={s.id: (slot_w[s.id],) for s in present},
        unmet_wh={
            s.id: max(remaining[s.id] - slot_w[s.id] * one.grid.slot_hours, 0.0) for s in present
        },
        method="replay",
        solve_ms=0.0,
    )
    return [
        f"slot {slot}:{found.split(':', 1)[1]}"
        for found in check.violations(one, applied, tolerance_w)
        if found.startswith("slot ")
    ]


def _applied_power(
    session: Session, remaining_wh: float, grid: SlotGrid, powers: Mapping[str, float]
) -> float:
    """What the EV draws: what it is asked, within its maximum and what it still needs."""
    ceiling = min(session.max_power_w, remaining_wh / grid.slot_hours)
    if session.uncontrollable:
        return ceiling
    return min(max(powers.get(session.id, 0.0), 0.0), ceiling)


# --- metrics -----------------------------------------------------------------------------------
def net_import_w(
    request: PlanRequest, power_w: Mapping[str, tuple[float, ...]]
) -> tuple[float, ...]:
    series = request.series
    return tuple(
        series_value(series.base_load_w, t)
        + sum(powers[t] for powers in power_w.values())
        - series_value(series.solar_w, t)
        for t in range(request.grid.count)
    )


def site_cost(request: PlanRequest, import_w: tuple[float, ...]) -> float:
    series, hours = request.series, request.grid.slot_hours
    energy = sum(
        hours
        / 1000
        * (
            series_value(series.import_price, t) * max(net, 0.0)
            - series_value(series.export_price, t) * max(-net, 0.0)
        )
        for t, net in enumerate(import_w)
    )
    peak_kw = max((*import_w, 0.0)) / 1000
    return energy + request.weights.demand_charge_per_kw * peak_kw


def measure(
    scenario: Scenario,
    strategy: str,
    power_w: Mapping[str, tuple[float, ...]],
    violations: list[str],
    solve_ms: list[float],
    methods: dict[str, int],
) -> Metrics:
    request = scenario.request
    hours = request.grid.slot_hours
    delivered = {sid: sum(values) * hours for sid, values in power_w.items()}
    delivered_kwh = sum(delivered.values()) / 1000
    with_evs = net_import_w(request, power_w)
    extra_cost = site_cost(request, with_evs) - site_cost(request, net_import_w(request, {}))
    carbon = sum(
        series_value(request.series.carbon_g_per_kwh, t) * max(net, 0.0) * hours / 1e6
        for t, net in enumerate(with_evs)
    )
    return Metrics(
        strategy=strategy,
        sessions=len(request.sessions),
        energy_requested_kwh=sum(s.energy_wh for s in request.sessions) / 1000,
        energy_delivered_kwh=delivered_kwh,
        sessions_fully_met=sum(
            delivered[s.id] >= FULLY_MET * s.energy_wh for s in request.sessions
        ),
        cost=site_cost(request, with_evs),
        cost_per_kwh=extra_cost / delivered_kwh if delivered_kwh > 0 else None,
        peak_import_kw=max((*with_evs, 0.0)) / 1000,
        cap_violations=len({v.split(":", 1)[0] for v in violations}),
        peak_window_kwh=sum(
            sum(values[t] for values in power_w.values()) * hours / 1000
            for t in range(request.grid.count)
            if scenario.in_peak_window(t)
        ),
        carbon_kg=carbon,
        solve_ms_p50=percentile(solve_ms, 0.50),
        solve_ms_p95=percentile(solve_ms, 0.95),
        decisions=len(solve_ms),
        methods=methods,
    )


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(math.ceil(fraction * len(ordered)) - 1, 0)]
