"""Checks a plan against every constraint of its request, and prices it.

Written apart from the planners (plain loops over the request, nothing shared with them but
the slot rules of `problem.charging_slots` / `present_slots`), so tests and benchmarks can
trust it. A limit broken by load the plan cannot control (base load, solar, uncontrollable
sessions) is reported only when controllable sessions still draw power under it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from ampnexus.charging.model import PHASES, Circuit, Plan, PlanRequest, Session
from ampnexus.charging.problem import charging_slots, present_slots


def violations(request: PlanRequest, plan: Plan, tolerance_w: float = 1.0) -> list[str]:
    """Every broken constraint, as a sentence naming the session or limit and the slot."""
    if plan.grid != request.grid:
        return [f"plan grid {plan.grid} is not the request's {request.grid}"]
    found: list[str] = []
    known = {s.id for s in request.sessions}
    found += [f"session {sid}: not in the request" for sid in plan.power_w if sid not in known]
    complete = True
    for session in request.sessions:
        power = plan.power_w.get(session.id)
        if power is None or len(power) != request.grid.count:
            found.append(f"session {session.id}: no power for every slot")
            complete = False
        else:
            found += _session_violations(request, session, power, tolerance_w)
            found += _unmet_mismatch(request, session, plan, tolerance_w)
    if complete:
        found += _limit_violations(request, plan, tolerance_w)
    return found


def cost(request: PlanRequest, plan: Plan) -> float:
    """The planner's objective without its tie-break: import at price plus carbon, export at
    the export price, the demand charge on the peak import, and unmet energy by priority."""
    grid, series, weights = request.grid, request.series, request.weights
    money, peak_w = 0.0, 0.0
    for t in range(grid.count):
        net = _value(series.base_load_w, t) - _value(series.solar_w, t)
        net += sum(power[t] for power in plan.power_w.values())
        carbon = _value(series.carbon_g_per_kwh, t) / 1000 * weights.carbon_per_kg
        import_cost = _value(series.import_price, t) + carbon
        hours = grid.hours_left(t)
        money += hours / 1000 * import_cost * max(net, 0.0)
        money -= hours / 1000 * _value(series.export_price, t) * max(-net, 0.0)
        peak_w = max(peak_w, net)
    money += weights.demand_charge_per_kw * peak_w / 1000
    for session in request.sessions:
        unmet_wh = max(session.energy_wh - plan.energy_wh(session.id, session.open_shares), 0.0)
        money += unmet_wh / 1000 * weights.unmet_per_kwh * session.unmet_weight
    return money


def _value(values: tuple[float, ...], t: int) -> float:
    return values[t] if values else 0.0


def _session_violations(
    request: PlanRequest, session: Session, power: tuple[float, ...], tol: float
) -> Iterator[str]:
    name, grid = f"session {session.id}", request.grid
    if session.uncontrollable:
        present = set(present_slots(grid, session))
        for t, p in enumerate(power):
            expected = session.max_power_w if t in present else 0.0
            if abs(p - expected) > tol:
                yield f"{name} slot {t}: uncontrollable, planned {p:.0f} W, draws {expected:.0f} W"
        return
    window = set(charging_slots(grid, session))
    caps: dict[int, float] = {}
    for t, cap in session.slot_caps_w:
        caps[t] = min(caps.get(t, math.inf), cap)
    for t, p in enumerate(power):
        if p < -tol:
            yield f"{name} slot {t}: negative power {p:.0f} W"
        if p > tol and t not in window:
            yield f"{name} slot {t}: charges outside its plug-in window"
        if p > tol and (t in session.blocked_slots or dict(session.open_shares).get(t) == 0):
            yield f"{name} slot {t}: charges in a blocked slot"
        if p > session.max_power_w + tol:
            yield f"{name} slot {t}: {p:.0f} W above its maximum {session.max_power_w:.0f} W"
        if p > caps.get(t, math.inf) + tol:
            yield f"{name} slot {t}: {p:.0f} W above its cap there {caps[t]:.0f} W"
        if tol < p < min(session.min_power_w, session.max_power_w) - tol:
            yield f"{name} slot {t}: {p:.0f} W below its minimum {session.min_power_w:.0f} W"
    shares = dict(session.open_shares)
    delivered = sum(p * grid.hours_left(t) * shares.get(t, 1.0) for t, p in enumerate(power))
    if delivered > session.energy_wh + tol * grid.slot_hours:
        yield f"{name}: delivers {delivered:.0f} Wh, needs only {session.energy_wh:.0f} Wh"


def _unmet_mismatch(
    request: PlanRequest, session: Session, plan: Plan, tol: float
) -> Iterator[str]:
    expected = max(session.energy_wh - plan.energy_wh(session.id, session.open_shares), 0.0)
    reported = plan.unmet_wh.get(session.id)
    if reported is None or abs(reported - expected) > tol * request.grid.slot_hours:
        yield f"session {session.id}: unmet_wh {reported} but the plan leaves {expected:.0f} Wh"


def _limit_violations(request: PlanRequest, plan: Plan, tol: float) -> Iterator[str]:
    keep = 1 - request.safety_margin
    volts, series = request.voltage, request.series
    below = _sessions_below(request)
    roots = [c for c in request.circuits if c.parent_id is None]
    root_power = min((c.max_power_w for c in roots if c.max_power_w is not None), default=math.inf)
    root_amps = min(
        (c.max_current_a for c in roots if c.max_current_a is not None), default=math.inf
    )
    everyone = list(request.sessions)
    for t in range(request.grid.count):
        site_net = _value(series.base_load_w, t) - _value(series.solar_w, t)
        cap = min(_value(series.cap_w, t) if series.cap_w else math.inf, root_power) * keep
        yield from _power_check(f"slot {t}: site import", everyone, plan, t, site_net, cap, tol)
        for phase in PHASES:
            name = f"slot {t}: site phase L{phase}"
            yield from _phase_check(
                name, everyone, plan, t, phase, site_net / 3, root_amps * keep, volts, tol
            )
        for circuit in request.circuits:
            if circuit.parent_id is None:
                continue
            yield from _circuit_checks(request, circuit, below[circuit.id], plan, t, tol)


def _circuit_checks(
    request: PlanRequest, circuit: Circuit, sessions: list[Session], plan: Plan, t: int, tol: float
) -> Iterator[str]:
    keep, name = 1 - request.safety_margin, f"slot {t}: circuit {circuit.id}"
    if circuit.max_power_w is not None:
        limit = circuit.max_power_w * keep
        yield from _power_check(f"{name} power", sessions, plan, t, 0.0, limit, tol)
    if circuit.max_current_a is not None:
        for phase in PHASES:
            amps = circuit.max_current_a * keep
            yield from _phase_check(
                f"{name} phase L{phase}", sessions, plan, t, phase, 0.0, amps, request.voltage, tol
            )


def _power_check(
    name: str,
    sessions: list[Session],
    plan: Plan,
    t: int,
    other_w: float,
    limit_w: float,
    tol: float,
) -> Iterator[str]:
    total = other_w + sum(plan.power_w[s.id][t] for s in sessions)
    steerable = sum(plan.power_w[s.id][t] for s in sessions if not s.uncontrollable)
    if total > limit_w + tol and steerable > tol:
        yield f"{name} {total:.0f} W above the limit {limit_w:.0f} W"


def _phase_check(
    name: str,
    sessions: list[Session],
    plan: Plan,
    t: int,
    phase: int,
    other_w: float,
    limit_a: float,
    volts: float,
    tol: float,
) -> Iterator[str]:
    on_phase = [s for s in sessions if phase in s.phases]
    share = {s.id: plan.power_w[s.id][t] / len(s.phases) for s in on_phase}
    amps = (other_w + sum(share.values())) / volts
    steerable = sum(share[s.id] for s in on_phase if not s.uncontrollable)
    if amps > limit_a + tol / volts and steerable > tol:
        yield f"{name} {amps:.1f} A above the limit {limit_a:.1f} A"


def _sessions_below(request: PlanRequest) -> dict[str, list[Session]]:
    parents = {c.id: c.parent_id for c in request.circuits}
    below: dict[str, list[Session]] = {c.id: [] for c in request.circuits}
    for session in request.sessions:
        node: str | None = session.circuit_id
        for _ in range(len(parents)):
            if node is None or node not in below:
                break
            below[node].append(session)
            node = parents[node]
    return below
