"""A plan request compiled into arrays, shared by the LP planner and the heuristic.

Conventions every planner and the checker follow:

- A controllable session may charge only in slots lying wholly inside [arrival, departure)
  and not in its `blocked_slots`. An uncontrollable one is reserved at `max_power_w` in every
  slot its plug-in window touches, blocked or not: it ignores profiles, so the plan must not
  count on it stopping, even once its energy estimate is reached.
- Limits: the grid connection (every circuit without a parent, together with
  `SiteSeries.cap_w`) carries the base load minus solar; each circuit carries the sessions
  below it. A power limit bounds the sum of power; a phase-current limit bounds, per phase,
  the sum of p / len(phases) over sessions drawing on that phase (in W, i.e. current times
  voltage); base load and solar count as balanced over three phases. Every limit is reduced
  by `safety_margin`.
- A limit is a row `coef @ p[:, t] <= headroom_w[t]`, where headroom is what the limit leaves
  for controllable sessions after the base load, solar and uncontrollable sessions (never
  below zero: a limit broken by load the plan does not control just leaves no room).
- Premium first: a plugged-in premium session is served before every session of a lower
  class (and every expected one) in each slot where a limit it shares with them could bind
  (`Problem.contended`): up to the last such slot, it takes up to its maximum from the
  earliest slot on until full, whatever a later session would gain by the room (ADR 0007).
  Elsewhere, and among sessions of one class, costs rule.
- Money: a kWh imported costs price + carbon weight * carbon; a kWh exported earns the
  export price, never valued above the import cost (keeps the cost convex); a kWh not
  delivered costs `unmet_per_kwh * Session.unmet_weight` (priority, and far less for an
  expected session, a forecast EV not yet plugged in).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt

from ampnexus.charging.model import (
    PHASES,
    Circuit,
    Plan,
    PlanRequest,
    Priority,
    Session,
    SlotExplanation,
    SlotGrid,
)

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]

SLACK_W = 1.0  # a limit with less room than this is "tight"
SITE_POWER = 0  # the first limit is always the site's import cap


def charging_slots(grid: SlotGrid, session: Session) -> range:
    """Slots wholly inside the plug-in window (blocked slots are not removed here)."""
    first = math.ceil((session.arrival - grid.start).total_seconds() / grid.slot_seconds)
    end = math.floor((session.departure - grid.start).total_seconds() / grid.slot_seconds)
    return _clipped(first, end, grid.count)


def present_slots(grid: SlotGrid, session: Session) -> range:
    """Slots the plug-in window touches at all."""
    first = math.floor((session.arrival - grid.start).total_seconds() / grid.slot_seconds)
    end = math.ceil((session.departure - grid.start).total_seconds() / grid.slot_seconds)
    return _clipped(first, end, grid.count)


def _clipped(first: int, end: int, count: int) -> range:
    first = min(max(first, 0), count)
    return range(first, min(max(end, first), count))


def per_slot(values: tuple[float, ...], count: int, default: float) -> Floats:
    """A series as an array; empty means `default` in every slot."""
    if not values:
        return np.full(count, default)
    if len(values) != count:
        raise ValueError(f"a series has {len(values)} values for {count} slots")
    array = np.asarray(values, dtype=np.float64)
    if np.isnan(array).any():
        raise ValueError("a series holds NaN")
    return array


@dataclass(frozen=True, eq=False)
class Problem:
    """S sessions, T slots, G limits; power in W, energy in Wh, money per kWh."""

    request: PlanRequest
    allowed: Bools  # (S, T): controllable session s may charge in slot t
    fixed_w: Floats  # (S, T): reserved draw of uncontrollable sessions
    max_w: Floats  # (S,)
    cap_w: Floats  # (S, T): the most each session may draw in each slot (`slot_caps_w`)
    min_w: Floats  # (S,)
    need_wh: Floats  # (S,)
    unmet_cost: Floats  # (S,) money per kWh not delivered
    import_cost: Floats  # (T,) money per kWh imported
    export_value: Floats  # (T,) money per kWh exported
    site_fixed_w: Floats  # (T,) base - solar + uncontrollable sessions
    site_cap_w: Floats  # (T,) import cap after the margin (inf: none)
    limit_names: tuple[str, ...]
    coef: Floats  # (G, S)
    headroom_w: Floats  # (G, T)
    hours: Floats  # (T,) how long each slot still lasts (slot 0 may be partly past)
    # (S, T) how long each session may charge in each slot: `hours`, less what its mode
    # blocks of a slot only partly open (`Session.open_shares`). Energy is power times this.
    session_hours: Floats

    @property
    def slots(self) -> int:
        return self.request.grid.count

    @cached_property
    def first_served(self) -> Bools:
        """(S,) plugged-in premium sessions the plan controls: served before the others."""
        return np.array(
            [
                x.priority is Priority.PREMIUM and not (x.expected or x.uncontrollable)
                for x in self.request.sessions
            ],
            dtype=np.bool_,
        )

    @cached_property
    def contended(self) -> Bools:
        """(S, T): the slots a first-served session takes first, earliest first: its allowed
        slots up to the last in which it contends with a later-served session (a limit they
        both charge under could bind there: all it feeds at full power exceed its room).
        Up to that slot, not only in the contended ones: else it would leave an earlier free
        slot for a later contended one and push a standard EV there."""
        first = self.first_served
        if not first.any() or first.all():
            return np.zeros(self.allowed.shape, dtype=np.bool_)
        under = (self.coef != 0).astype(np.float64)  # (G, S)
        at_full = self.coef @ (self.allowed * self.cap_w)  # (G, T)
        later_served = (self.allowed & ~first[:, None]).astype(np.float64)
        later = under @ later_served  # (G, T): how many may charge under each limit
        shared = (at_full > self.headroom_w + 1e-6) & (later > 0)
        contends = self.allowed & first[:, None] & (under.T @ shared > 0)
        # Each row: True up to its last contended slot (a reversed running "any").
        until_last = np.flip(np.logical_or.accumulate(np.flip(contends, axis=1), axis=1), axis=1)
        contended: Bools = self.allowed & until_last
        return contended

    def objective(self, power_w: Floats) -> float:
        """What the planners minimise (without the LP's tie-break), for controllable power."""
        net_kw = (self.site_fixed_w + power_w.sum(axis=0)) / 1000
        imports, exports = np.maximum(net_kw, 0.0), np.maximum(-net_kw, 0.0)
        energy = self.hours @ (self.import_cost * imports - self.export_value * exports)
        peak = self.request.weights.demand_charge_per_kw * float(imports.max(initial=0.0))
        delivered_wh = ((power_w + self.fixed_w) * self.session_hours).sum(axis=1)
        unmet = self.unmet_cost @ np.maximum(self.need_wh - delivered_wh, 0.0) / 1000
        return float(energy + peak + unmet)

    def congestion(self) -> Floats:
        """Per session, in [0, 1]: over the limits it charges under that could bind (in some
        slot, the sessions under it at full power exceed its room, as in `contended`), the
        highest share of what the limit can deliver over the horizon (its room in each slot,
        at most what the sessions under it could draw there) that those sessions still need.
        A limit that cannot bind has no room for an unannounced EV to take: a session under
        only such limits is held back by its own maximum alone, and risks nothing by waiting
        (ADR 0007)."""
        under = (self.coef != 0).astype(np.float64)  # (G, S)
        could_draw_w = under @ (self.allowed * self.cap_w)  # (G, T)
        deliverable_wh = np.minimum(could_draw_w, self.headroom_w) @ self.hours
        needed_wh = under @ self.need_wh
        share = np.where(deliverable_wh > 0, needed_wh / np.maximum(deliverable_wh, 1e-9), 1.0)
        can_bind = (could_draw_w > self.headroom_w + 1e-6).any(axis=1)
        share = np.where(can_bind, share, 0.0)
        congestion: Floats = (under * np.minimum(share, 1.0)[:, None]).max(axis=0, initial=0.0)
        return congestion

    def marginal_cost(self, extra_w: Floats) -> Floats:
        """Money per kWh of one more kW in each slot after `extra_w` of charging."""
        exporting = self.site_fixed_w + extra_w < 0
        return np.where(exporting, self.export_value, self.import_cost)


def compile_problem(request: PlanRequest) -> Problem:
    grid, sessions = request.grid, request.sessions
    for x in sessions:
        if not all(math.isfinite(v) for v in (x.energy_wh, x.max_power_w, x.min_power_w)):
            raise ValueError(f"session {x.id}: energy and power must be finite numbers")
    count, keep = grid.count, 1.0 - request.safety_margin
    s = request.series
    base, solar = per_slot(s.base_load_w, count, 0.0), per_slot(s.solar_w, count, 0.0)
    carbon_cost = per_slot(s.carbon_g_per_kwh, count, 0.0) / 1000 * request.weights.carbon_per_kg
    import_cost = per_slot(s.import_price, count, 0.0) + carbon_cost
    export_value = np.minimum(per_slot(s.export_price, count, 0.0), import_cost)

    hours = np.array([grid.hours_left(t) for t in range(count)], dtype=np.float64)
    session_hours = np.tile(hours, (len(sessions), 1))
    allowed = np.zeros((len(sessions), count), dtype=np.bool_)
    fixed_w = np.zeros((len(sessions), count))
    for i, session in enumerate(sessions):
        if session.uncontrollable:
            window = present_slots(grid, session)
            fixed_w[i, window.start : window.stop] = session.max_power_w
        else:
            window = charging_slots(grid, session)
            allowed[i, window.start : window.stop] = True
            blocked = [t for t in session.blocked_slots if 0 <= t < count]
            allowed[i, blocked] = False
            for t, open_part in session.open_shares:
                if 0 <= t < count:
                    session_hours[i, t] *= min(max(open_part, 0.0), 1.0)
                    allowed[i, t] &= open_part > 0.0
    cap_w = _slot_caps(sessions, count)
    # A cap below the lowest rate a car can hold leaves nothing it could be told to draw.
    min_w = np.array([min(x.min_power_w, x.max_power_w) for x in sessions], dtype=np.float64)
    allowed &= cap_w >= np.maximum(min_w[:, None], 1e-9)

    roots = [c for c in request.circuits if c.parent_id is None]
    site_cap = per_slot(s.cap_w, count, math.inf)
    site_cap = np.minimum(site_cap, min((_or_inf(c.max_power_w) for c in roots), default=math.inf))
    site_amps = min((_or_inf(c.max_current_a) for c in roots), default=math.inf)
    members = _members(request)
    volts, net = request.voltage, base - solar
    names, coefs, limits, site_shares = [], [], [], []

    def add(name: str, coef: Floats, limit: Floats, site_share: Floats | float) -> None:
        names.append(name)
        coefs.append(coef)
        limits.append(limit * keep)
        site_shares.append(np.broadcast_to(site_share, (count,)))

    # Share of a session's power on each phase: 1/len(phases) on the phases it uses.
    share = np.array(
        [[1 / len(x.phases) if f in x.phases else 0.0 for x in sessions] for f in PHASES]
    )
    add("site power", np.ones(len(sessions)), site_cap, net)
    if site_amps < math.inf:
        for phase in PHASES:
            limit = np.full(count, site_amps * volts)
            add(f"site phase L{phase}", share[phase - 1], limit, net / 3)
    for circuit in request.circuits:
        if circuit.parent_id is None:
            continue  # part of the site limits above
        below = members[circuit.id]
        if circuit.max_power_w is not None:
            limit = np.full(count, circuit.max_power_w)
            add(f"circuit {circuit.id} power", below.astype(np.float64), limit, 0.0)
        if circuit.max_current_a is not None:
            for phase in PHASES:
                coef = np.where(below, share[phase - 1], 0.0)
                limit = np.full(count, circuit.max_current_a * volts)
                add(f"circuit {circuit.id} phase L{phase}", coef, limit, 0.0)

    coef = np.array(coefs).reshape(len(names), len(sessions))
    fixed_share = coef @ fixed_w + np.array(site_shares).reshape(len(names), count)
    headroom = np.maximum(np.array(limits).reshape(len(names), count) - fixed_share, 0.0)
    weights = request.weights
    return Problem(
        request=request,
        allowed=allowed,
        fixed_w=fixed_w,
        max_w=np.array([x.max_power_w for x in sessions], dtype=np.float64),
        cap_w=cap_w,
        min_w=min_w,
        need_wh=np.array([max(x.energy_wh, 0.0) for x in sessions], dtype=np.float64),
        unmet_cost=np.array(
            [weights.unmet_per_kwh * x.unmet_weight for x in sessions], dtype=np.float64
        ),
        import_cost=import_cost,
        export_value=export_value,
        site_fixed_w=net + fixed_w.sum(axis=0),
        site_cap_w=site_cap * keep,
        limit_names=tuple(names),
        coef=coef,
        headroom_w=headroom,
        hours=hours,
        session_hours=session_hours,
    )


def _slot_caps(sessions: tuple[Session, ...], count: int) -> Floats:
    """(S, T): each session's maximum, lowered in the slots its `slot_caps_w` name."""
    caps = np.tile(np.array([x.max_power_w for x in sessions], dtype=np.float64)[:, None], count)
    for i, session in enumerate(sessions):
        if session.uncontrollable:
            continue  # it ignores profiles: reserved at its maximum whatever caps it
        for t, cap in session.slot_caps_w:
            if 0 <= t < count:
                caps[i, t] = min(caps[i, t], max(cap, 0.0))
    return caps.reshape(len(sessions), count)


def _or_inf(value: float | None) -> float:
    return math.inf if value is None else value


def _members(request: PlanRequest) -> dict[str, Bools]:
    """For every circuit, which sessions are fed through it."""
    circuits: dict[str, Circuit] = {c.id: c for c in request.circuits}
    members = {cid: np.zeros(len(request.sessions), dtype=np.bool_) for cid in circuits}
    for i, session in enumerate(request.sessions):
        node: str | None = session.circuit_id
        if node not in circuits:
            raise ValueError(f"session {session.id} is on unknown circuit {node}")
        seen: set[str] = set()
        while node is not None:
            if node in seen or node not in circuits:
                raise ValueError(f"circuit {node} has a broken or circular parent chain")
            seen.add(node)
            members[node][i] = True
            node = circuits[node].parent_id
    return members


class Ledger:
    """A plan being filled: power so far, and room left in every limit and energy need."""

    def __init__(
        self, problem: Problem, power_w: Floats | None = None, import_cap_w: float = math.inf
    ) -> None:
        """`import_cap_w`: an extra cap on site import, on top of the request's limits."""
        self.problem = problem
        self.power_w = np.zeros(problem.allowed.shape) if power_w is None else power_w.copy()
        self.total_w = self.power_w.sum(axis=0)
        self.room_w = problem.headroom_w - problem.coef @ self.power_w
        own_cap = import_cap_w - problem.site_fixed_w - self.total_w
        self.room_w[SITE_POWER] = np.minimum(self.room_w[SITE_POWER], np.maximum(own_cap, 0.0))
        self.left_wh = problem.need_wh - (self.power_w * problem.session_hours).sum(axis=1)
        self.limits_of = [np.flatnonzero(column) for column in problem.coef.T]

    def room(self, session: int, slots: npt.NDArray[np.intp]) -> Floats:
        """How much more `session` may draw in each of `slots`, by every limit and its own max."""
        p, rows = self.problem, self.limits_of[session]
        by_limits = self.room_w[rows[:, None], slots] / p.coef[rows, session, None]
        by_self = p.cap_w[session, slots] - self.power_w[session, slots]
        room: Floats = np.maximum(np.minimum(by_limits.min(axis=0, initial=math.inf), by_self), 0)
        return room

    def room_at(self, session: int, slot: int) -> float:
        p, rows = self.problem, self.limits_of[session]
        by_limits = (self.room_w[rows, slot] / p.coef[rows, session]).min(initial=math.inf)
        by_self = float(p.cap_w[session, slot] - self.power_w[session, slot])
        return max(min(float(by_limits), by_self), 0.0)

    def add(self, session: int, slots: npt.NDArray[np.intp], extra_w: Floats) -> None:
        p, rows = self.problem, self.limits_of[session]
        self.power_w[session, slots] += extra_w
        self.total_w[slots] += extra_w
        self.room_w[rows[:, None], slots] -= p.coef[rows, session, None] * extra_w
        self.left_wh[session] -= extra_w @ p.session_hours[session, slots]

    def add_at(self, session: int, slot: int, extra_w: float) -> None:
        p, rows = self.problem, self.limits_of[session]
        self.power_w[session, slot] += extra_w
        self.total_w[slot] += extra_w
        self.room_w[rows, slot] -= p.coef[rows, session] * extra_w
        self.left_wh[session] -= extra_w * p.session_hours[session, slot]

    def cheapest_first(self, session: int) -> npt.NDArray[np.intp]:
        """The session's allowed slots by marginal cost now, earlier first on ties."""
        slots = np.flatnonzero(self.problem.allowed[session])
        cost = self.problem.marginal_cost(self.total_w)[slots]
        return slots[np.lexsort((slots, cost))]

    def first_served_order(self, session: int) -> npt.NDArray[np.intp]:
        """A first-served session's allowed slots: those it contends for, earliest first (it
        takes them before anyone of a lower class), then the rest cheapest first."""
        cheapest = self.cheapest_first(session)
        contended = self.problem.contended[session]
        return np.concatenate([np.flatnonzero(contended), cheapest[~contended[cheapest]]])

    def top_up(self, session: int, slots: npt.NDArray[np.intp] | None = None) -> None:
        """Deliver what the session still needs in its cheapest slots (or `slots`, in that
        order) with room, never
        starting a slot below the session's minimum rate. A last piece smaller than the
        minimum is taken at the minimum, the difference coming from the slot charging most."""
        p, low, left_wh = self.problem, self.problem.min_w[session], self.left_wh[session]
        if left_wh <= 1e-9:
            return
        slots = self.cheapest_first(session) if slots is None else slots
        hours = p.session_hours[session, slots]
        current = self.power_w[session, slots]
        room = self.room(session, slots)
        usable_wh = np.where((current > 0) | (room >= low), room, 0.0) * hours
        extra = np.clip(left_wh - (np.cumsum(usable_wh) - usable_wh), 0.0, usable_wh) / hours
        last = np.flatnonzero((current == 0) & (extra > 0) & (extra < low))
        if last.size:
            extra[last] = 0.0
            after = current + extra
            donor = int(np.argmax(after))
            surplus_wh = low * hours[last].sum() - (left_wh - extra @ hours)
            if after[donor] - surplus_wh / hours[donor] >= low:
                extra[last] = low
                extra[donor] -= surplus_wh / hours[donor]
        self.add(session, slots, extra)


def explain(problem: Problem, power_w: Floats) -> tuple[SlotExplanation, ...]:
    """Per slot: the tight limit holding back a session that could take more, else "price"
    when some session could take more but the plan put its energy elsewhere, else None."""
    request = problem.request
    room = problem.headroom_w - problem.coef @ power_w
    hungry = problem.allowed & (power_w < problem.cap_w - SLACK_W)
    held = (problem.coef != 0).astype(np.float64) @ hungry.astype(np.float64) > 0
    binding = (room < SLACK_W) & held
    s = request.series
    count = problem.slots
    base, solar = per_slot(s.base_load_w, count, 0.0), per_slot(s.solar_w, count, 0.0)
    prices = s.import_price or (None,) * count
    out = []
    for t in range(count):
        tight = np.flatnonzero(binding[:, t])
        reason = problem.limit_names[tight[0]] if tight.size else None
        if reason is None and hungry[:, t].any():
            reason = "price"
        cap, load, sun = float(problem.site_cap_w[t]), float(base[t]), float(solar[t])
        out.append(SlotExplanation(cap, load, sun, prices[t], reason))
    return tuple(out)


def to_plan(problem: Problem, power_w: Floats, method: str, solve_ms: float, status: str) -> Plan:
    request = problem.request
    total = power_w + problem.fixed_w
    delivered = (total * problem.session_hours).sum(axis=1)
    unmet = np.maximum(problem.need_wh - delivered, 0.0)
    return Plan(
        grid=request.grid,
        power_w={x.id: tuple(total[i].tolist()) for i, x in enumerate(request.sessions)},
        unmet_wh={x.id: float(unmet[i]) for i, x in enumerate(request.sessions)},
        method=method,
        solve_ms=solve_ms,
        slots=explain(problem, power_w),
        status=status,
    )
