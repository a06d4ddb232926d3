"""Baseline strategies: each turns the sessions present in the first slot of a request into
powers (W) for that slot, without looking ahead. They are what the planner is measured against.

- `uncontrolled`: every EV at its maximum from arrival until it is full, ignoring every limit.
- `equal_share`: max-min fair share of every limit (site, cap, circuits, phases): all EVs rise
  together until a limit binds or an EV reaches its maximum or remaining need.
- `edf`: earliest deadline first; each EV in turn takes all it can under every limit.

`slot_limits` states the limits of one slot as linear constraints, with the conventions of
`check.violations` (which the replay uses to judge every strategy). An EV is never started
below its minimum rate, except for a last piece smaller than that: it then charges at the
minimum for part of the slot and stops, which averages below the minimum over the slot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from ampnexus.charging.model import Circuit, PlanRequest, Session
from ampnexus.charging.problem import charging_slots

Powers = dict[str, float]
Strategy = Callable[[PlanRequest], Powers]

EPSILON_W = 1e-6


@dataclass(frozen=True, slots=True)
class Limit:
    """sum(weight[s] * power_w[s]) <= headroom, in W (power limits) or A (phase currents)."""

    name: str
    headroom: float
    weights: Mapping[str, float]  # session id -> units of this limit per W drawn
    unit: str = "W"


# --- the slot's shape --------------------------------------------------------------------------
def present(request: PlanRequest, slot: int = 0) -> list[Session]:
    """Sessions that may charge in `slot`: plugged in for the whole slot (the planner's rule),
    not blocked, still needing energy."""
    return [
        s
        for s in request.sessions
        if slot in charging_slots(request.grid, s)
        and slot not in s.blocked_slots
        and s.energy_wh > EPSILON_W
    ]


def series_value(values: tuple[float, ...], slot: int, default: float = 0.0) -> float:
    return values[slot] if values else default


def slot_limits(request: PlanRequest, sessions: Iterable[Session], slot: int = 0) -> list[Limit]:
    """Every limit of `slot` on the EVs' powers: the grid connection (net of base load and
    solar, base and solar spread evenly on three phases), the slot's cap, and each circuit
    (EV load only) in power and in current per phase; `safety_margin` kept free on each."""
    sessions = list(sessions)
    keep = 1 - request.safety_margin
    series = request.series
    net_w = series_value(series.base_load_w, slot) - series_value(series.solar_w, slot)
    members = _circuit_members(request.circuits, sessions)
    limits: list[Limit] = []
    for circuit in request.circuits:
        inside = members[circuit.id]
        on_grid = circuit.parent_id is None
        if circuit.max_power_w is not None:
            base = net_w if on_grid else 0.0
            limits.append(
                Limit(
                    f"circuit {circuit.id} power",
                    circuit.max_power_w * keep - base,
                    {s.id: 1.0 for s in inside},
                )
            )
        if circuit.max_current_a is not None:
            base_a = net_w / (3 * request.voltage) if on_grid else 0.0
            for phase in (1, 2, 3):
                on_phase = [s for s in inside if phase in s.phases]
                limits.append(
                    Limit(
                        f"circuit {circuit.id} phase L{phase}",
                        circuit.max_current_a * keep - base_a,
                        {s.id: 1 / (request.voltage * len(s.phases)) for s in on_phase},
                        unit="A",
                    )
                )
    if series.cap_w:
        limits.append(
            Limit("site cap", series.cap_w[slot] * keep - net_w, {s.id: 1.0 for s in sessions})
        )
    return limits


def _circuit_members(
    circuits: Iterable[Circuit], sessions: list[Session]
) -> dict[str, list[Session]]:
    """For every circuit, the sessions connected below it (directly or through sub-circuits)."""
    parent = {c.id: c.parent_id for c in circuits}
    members: dict[str, list[Session]] = {c: [] for c in parent}
    for session in sessions:
        node: str | None = session.circuit_id
        while node is not None:
            members[node].append(session)
            node = parent[node]
    return members


def ceiling_w(request: PlanRequest, session: Session) -> float:
    """The most an EV can take in the first slot: its maximum, or what it still needs."""
    return min(session.max_power_w, session.energy_wh / request.grid.slot_hours)


def lowest_w(request: PlanRequest, session: Session) -> float:
    """The lowest rate worth starting: the charger's minimum, or less for a last piece."""
    return min(session.min_power_w, ceiling_w(request, session))


# --- strategies --------------------------------------------------------------------------------
def uncontrolled(request: PlanRequest) -> Powers:
    return {s.id: ceiling_w(request, s) for s in present(request)}


def edf(request: PlanRequest) -> Powers:
    sessions = present(request)
    limits = slot_limits(request, sessions)
    headroom = {limit.name: limit.headroom for limit in limits}
    powers = _fixed(request, sessions, limits, headroom)
    order = sorted(
        (s for s in sessions if s.id not in powers),
        key=lambda s: (s.departure, -s.priority, s.id),
    )
    for session in order:
        mine = [limit for limit in limits if session.id in limit.weights]
        room = min(
            [ceiling_w(request, session)]
            + [max(headroom[lim.name], 0.0) / lim.weights[session.id] for lim in mine]
        )
        power = room if room >= max(lowest_w(request, session), EPSILON_W) else 0.0
        powers[session.id] = power
        for limit in mine:
            headroom[limit.name] -= power * limit.weights[session.id]
    return powers


def equal_share(request: PlanRequest) -> Powers:
    """Max-min fair filling. An EV whose share falls under its minimum rate is left out (the
    latest deadline first) and the rest share again, so no EV is asked to hold a rate it can't."""
    sessions = present(request)
    excluded: set[str] = set()
    while True:
        limits = slot_limits(request, sessions)
        headroom = {limit.name: limit.headroom for limit in limits}
        powers = _fixed(request, sessions, limits, headroom)
        flexible = [s for s in sessions if s.id not in powers and s.id not in excluded]
        shares = _fill_equally(request, flexible, limits, headroom)
        too_low = [s for s in flexible if 0 < shares[s.id] < lowest_w(request, s) - EPSILON_W]
        if not too_low:
            powers.update(shares)
            powers.update({sid: 0.0 for sid in excluded})
            return powers
        excluded.add(max(too_low, key=lambda s: (s.departure, s.id)).id)


def _fixed(
    request: PlanRequest, sessions: list[Session], limits: list[Limit], headroom: dict[str, float]
) -> Powers:
    """Chargers that refuse profiles draw their maximum whatever we decide; book them first."""
    powers: Powers = {}
    for session in sessions:
        if session.uncontrollable:
            powers[session.id] = ceiling_w(request, session)
            for limit in limits:
                headroom[limit.name] -= powers[session.id] * limit.weights.get(session.id, 0.0)
    return powers


def _fill_equally(
    request: PlanRequest,
    sessions: list[Session],
    limits: list[Limit],
    headroom: dict[str, float],
) -> Powers:
    powers = {s.id: 0.0 for s in sessions}
    ceiling = {s.id: ceiling_w(request, s) for s in sessions}
    rising = {s.id for s in sessions if ceiling[s.id] > EPSILON_W}
    while rising:
        # Raise every rising EV by the same step, as far as the tightest limit allows.
        rates = {lim.name: sum(w for s, w in lim.weights.items() if s in rising) for lim in limits}
        step_w, first_full = min((ceiling[s] - powers[s], s) for s in rising)
        binding: Limit | None = None
        for limit in limits:
            if rates[limit.name] > 0:
                room = max(headroom[limit.name], 0.0) / rates[limit.name]
                if room < step_w:
                    step_w, binding = room, limit
        for sid in rising:
            powers[sid] += step_w
        for limit in limits:
            headroom[limit.name] -= step_w * rates[limit.name]
        if binding is None:
            rising.discard(first_full)
        else:
            rising -= set(binding.weights)
        rising -= {s for s in rising if powers[s] >= ceiling[s] - EPSILON_W}
    return powers


STRATEGIES: dict[str, Strategy] = {
    "uncontrolled": uncontrolled,
    "equal_share": equal_share,
    "edf": edf,
}
