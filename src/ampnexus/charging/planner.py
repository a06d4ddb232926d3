"""Smart-charging planner: one LP over the horizon on HiGHS, solved again at every replan
(rolling horizon: only the first slots of a plan are ever carried out).

Variables (kW inside the LP, W outside):
  p[s,t] >= 0  power of controllable session s in slot t, only in the slots of its plug-in
               window that are not blocked (slot rules in `problem`); p[s,t] <= max_power_w,
               and <= the session's cap in slot t (`Session.slot_caps_w`)
  imp[t] >= 0  grid import;  peak >= 0  the highest import (only with a demand charge)

Objective (money; h = slot hours; c = import price + carbon weight * carbon; e = export
price, at most c; w_s = unmet_per_kwh * priority weight; d = demand charge per kW):
  min  sum_t h (c[t] - e[t]) imp[t] + sum_s,t h e[t] p[s,t]  import at c, export at e, since
                                                             imp >= net at the optimum
     + d peak
     - sum_s,t h w_s p[s,t]       the unmet-energy penalty, less its constant part
     + sum_s,t h tie[t] p[s,t]    tie rises with t to 1e-3 of the top price: of equal
                                  plans, the one charging earlier
     + sum_s,t h r a_t w_s k_s^3 p[s,t]   deferral hedge (ADR 0005): a_t hours ahead,
                                  r = defer_risk_per_hour, k_s the congestion of the limits
                                  s charges under (`Problem.congestion`): room left for later
                                  may be claimed by EVs nobody foresaw, the likelier the
                                  fuller those limits; only with expected sessions in the
                                  request (a forecast); r = 0 plans on costs alone
     - sum_s,t h g (P - t) p[s,t] over first-served (premium) s, t up to its last contended
                                  period (`Problem.contended`, ADR 0007): g exceeds anything
                                  a lower class could gain by the room, so premium is
                                  served first there, earliest first
     + sum_s f x[s]               x[s] >= 0: slot-0 power above the session's fair share
                                  (same rows as p[s,0]), f a tie: equals share slot 0 evenly
Constraints, every slot t:
  imp[t] - sum_s p[s,t] >= base[t] - solar[t] + uncontrollable[t]     (import, net of solar)
  peak - imp[t] >= 0                                                  (demand charge only)
  sum_s coef[l,s] p[s,t] <= limit_l * (1 - safety_margin) - fixed load on l, for every limit
      l: the site import cap min(root limits, cap_w[t]), each circuit's power, each
      per-phase current of the site and of each circuit (as W per phase: coef 1/len(phases)
      on the phases a session draws on); rows that cannot bind are left out
  h * sum_t p[s,t] <= energy_wh, every session
Uncontrollable sessions are no variables: they are fixed load at max_power_w while present.

Time budget: the LP's solve time is estimated from its nonzeros. When the slot-by-slot LP
does not fit, slots after the first FINE_HOURS are merged into periods of 2, 4 or 8 slots
(power constant over a period, each limit at the period's tightest slot, costs and import
still per slot), the finest that fits: only the near slots need to be exact, the next
replan refines the rest. When even that does not fit, or HiGHS fails or ends without an
optimum, method="auto" returns the heuristic's plan, the reason in `Plan.status`, so the
site always has a safe plan; method="lp" raises instead.

Minimum rate: the LP is continuous, so it may give 0 < p < min_power_w. A rounding pass
visits those rates by slot (higher priority, then higher rate first) and raises each to the
minimum where every limit and the energy still needed leave room, otherwise sets it to 0;
sessions that lost energy then get it back in their cheapest slots with room, never starting
a slot below the minimum and, with a demand charge, never above the LP's peak import. Each
step only takes room that is left, so no limit can break; the plan may end slightly above
the LP's optimum.
"""

from __future__ import annotations

import math
from time import perf_counter

import highspy
import numpy as np

from ampnexus.charging import heuristic
from ampnexus.charging.model import CONGESTION_EXPONENT, Plan, PlanRequest
from ampnexus.charging.problem import Floats, Ints, Ledger, Problem, compile_problem, to_plan

METHODS = ("auto", "lp", "heuristic")
FINE_HOURS = 3.0  # always planned slot by slot
MERGE = (1, 2, 4, 8)  # slots per period after FINE_HOURS, the finest that fits the budget
BUDGET_SHARE = 0.4  # of the time budget for the estimated solve: estimates are off by up to 3x
SECONDS_SCALE, SECONDS_EXPONENT = 3.9e-6, 0.96  # see estimated_seconds
TIE_SPREAD = 1e-3  # of the price scale, from the first slot to the last
FAIR_TIE = 1e-6  # of the price scale per kW, the least cost of power above the fair share
INF = highspy.kHighsInf


class PlanningError(RuntimeError):
    """The LP gave no optimal plan."""


def plan(request: PlanRequest, *, time_budget_s: float = 1.0, method: str = "auto") -> Plan:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    started = perf_counter()
    problem = compile_problem(request)
    if method == "heuristic" or problem.slots == 0:
        return _heuristic(problem, started, time_budget_s, "feasible")
    try:
        lp = _fitting_lp(problem, time_budget_s - (perf_counter() - started))
        if lp is None and method == "auto":
            return _heuristic(
                problem, started, time_budget_s, "fallback: too large for the time budget"
            )
        lp = lp or LinearProgram(problem, periods(problem, MERGE[-1]))
        power = lp.solve(time_budget_s - (perf_counter() - started))
    except Exception as error:  # any solver failure: the site still needs a safe plan
        if method == "lp":
            raise
        return _heuristic(problem, started, time_budget_s, f"fallback: {error}")
    power = respect_minimum(problem, power)
    merged = int(np.bincount(lp.period_of).max())
    status = "optimal" if merged == 1 else f"optimal, merging {merged} slots after {FINE_HOURS:g} h"
    return to_plan(problem, power, "highs", _ms_since(started), status)


def periods(problem: Problem, merge: int) -> Ints:
    """Period of every slot: one slot each for the first FINE_HOURS, then `merge` slots."""
    fine = math.ceil(FINE_HOURS / problem.request.grid.slot_hours - 1e-9)
    slots = np.arange(problem.slots)
    return np.where(slots < fine, slots, fine + (slots - fine) // merge)


def estimated_seconds(lp: LinearProgram) -> float:
    """HiGHS's time on this machine (2 cores) for the LP, fitted on random sites of 20 to
    1,000 sessions; within a factor of three, on the pessimistic side."""
    return float(SECONDS_SCALE * lp.nonzeros**SECONDS_EXPONENT)


def _fitting_lp(problem: Problem, budget_s: float) -> LinearProgram | None:
    """The finest LP whose estimated solve fits its share of the budget, or None."""
    for merge in MERGE:
        lp = LinearProgram(problem, periods(problem, merge))
        if estimated_seconds(lp) <= BUDGET_SHARE * budget_s:
            return lp
    return None


def _heuristic(problem: Problem, started: float, budget_s: float, status: str) -> Plan:
    power = heuristic.fill(problem, budget_s - (perf_counter() - started))
    return to_plan(problem, power, "heuristic", _ms_since(started), status)


def _ms_since(started: float) -> float:
    return (perf_counter() - started) * 1000


class LinearProgram:
    """The LP in HiGHS's column-wise form. Columns: p[s, period] for every session and period
    it may charge in (`session`, `period`), then imp[t] per slot, then peak (demand charge).
    Rows: limits per period (at the period's tightest slot; those that cannot bind are left
    out), import per slot, energy per session, peak per slot. Sizing it is cheap; the matrix
    is built by `solve`."""

    def __init__(self, problem: Problem, period_of: Ints) -> None:
        self.problem, self.period_of = problem, period_of
        self.firsts = np.flatnonzero(np.diff(period_of, prepend=-1))  # first slot of periods
        self.slots_in = np.add.reduceat(problem.allowed, self.firsts, axis=1)  # (S, periods)
        # kWh per kW of a column: the hours its slots last (slot 0 may be partly past).
        self.hours_in = np.add.reduceat(
            problem.allowed * problem.session_hours, self.firsts, axis=1
        )
        self.session, self.period = np.nonzero(self.slots_in)
        self.column = np.full(self.slots_in.shape, -1)
        self.column[self.session, self.period] = np.arange(len(self.session))
        self.headroom_w = np.minimum.reduceat(problem.headroom_w, self.firsts, axis=1)
        # The most a column may be: power is constant over a period, so its lowest slot cap.
        caps = np.where(problem.allowed, problem.cap_w, np.inf)
        self.cap_in = np.minimum.reduceat(caps, self.firsts, axis=1) if self.firsts.size else caps
        self.cap_in = np.where(self.slots_in > 0, self.cap_in, 0.0)  # (S, periods)
        charging = (self.slots_in > 0).astype(np.float64)
        at_full = problem.coef @ self.cap_in
        self.binds = at_full > self.headroom_w + 1e-6
        # Slot 0 is carried out now: each session's power there is split into a column up to
        # its fair share and one above it (`_fair_shares`); `shared` are the split columns.
        self.fair_w = self._fair_shares(at_full)
        fair = self.fair_w[self.session]
        split = (self.period == 0) & (fair < self.cap_in[self.session, self.period] - 1)
        # A share below the session's minimum rate could not be held: no split there.
        split &= fair >= problem.min_w[self.session]
        self.shared = np.flatnonzero(split)
        self.demand = problem.request.weights.demand_charge_per_kw
        in_limits = float(((problem.coef != 0) @ charging)[self.binds].sum())
        per_slot = 1 + 2 * (self.demand > 0)  # imp in import (and peak) rows, peak in peak rows
        self.nonzeros = int(
            in_limits + problem.allowed.sum() + len(self.session) + per_slot * problem.slots
        )

    def _fair_shares(self, at_full_w: Floats) -> Floats:
        """(S,) W: every session at the same share of its maximum, the largest share that
        fits every limit in slot 0 were all of them to charge there."""
        p = self.problem
        if not self.firsts.size:
            return p.max_w.copy()
        room, at_full = self.headroom_w[:, 0], at_full_w[:, 0]
        ratio = np.where(at_full > room, room / np.maximum(at_full, 1e-9), 1.0)  # (G,)
        under = p.coef != 0
        share = np.where(under, ratio[:, None], 1.0).min(axis=0, initial=1.0)  # (S,)
        fair: Floats = np.where(self.slots_in[:, 0] > 0, self.cap_in[:, 0], p.max_w) * share
        return fair

    def solve(self, time_budget_s: float) -> Floats:
        """Controllable power per session and slot (W); PlanningError unless optimal."""
        # The bare solver, silenced first: highspy's Highs() wrapper logs HiGHS' banner to
        # stdout as it is built (1.16), which would corrupt a `--json` command's output.
        highs = highspy._Highs()  # type: ignore[attr-defined]
        highs.setOptionValue("output_flag", False)
        highs.setOptionValue("time_limit", max(time_budget_s, 0.01))
        start, index, value = self._matrix()
        cost, upper = self._costs_and_bounds()
        row_lower, row_upper = self._row_bounds()
        status = highs.passModel(
            len(cost),
            len(row_lower),
            len(index),
            int(highspy.MatrixFormat.kColwise),
            int(highspy.ObjSense.kMinimize),
            0.0,
            cost,
            np.zeros(len(cost)),
            upper,
            row_lower,
            row_upper,
            start.astype(np.int32),
            index.astype(np.int32),
            value,
            np.zeros(len(cost), dtype=np.int32),  # all continuous
        )
        if status != highspy.HighsStatus.kOk:
            raise PlanningError(f"HiGHS refused the model ({status})")
        highs.run()
        model_status = highs.getModelStatus()
        if model_status != highspy.HighsModelStatus.kOptimal:
            raise PlanningError(f"HiGHS: {highs.modelStatusToString(model_status)}")
        values = np.asarray(highs.getSolution().col_value)
        n_p = len(self.session)
        p_kw = values[:n_p].copy()
        p_kw[self.shared] += values[n_p : n_p + len(self.shared)]
        p_kw = np.append(p_kw, 0.0)
        column = self.column[:, self.period_of]  # (sessions, slots); -1 picks the 0 appended
        power: Floats = np.where(self.problem.allowed, p_kw[column] * 1000, 0.0)
        return np.clip(power, 0.0, self.problem.cap_w)

    @property
    def _first_rows(self) -> tuple[int, int, int, int]:
        """First row of: import rows, energy rows, peak rows; and the row count."""
        first_import = int(self.binds.sum())
        first_energy = first_import + self.problem.slots
        first_peak = first_energy + len(self.problem.max_w)
        return (
            first_import,
            first_energy,
            first_peak,
            first_peak + self.problem.slots * (self.demand > 0),
        )

    def _matrix(self) -> tuple[Ints, Ints, Floats]:
        """Column starts, row indices and values, from (column, row, value) triplets."""
        p, n_p, count = self.problem, len(self.session), self.problem.slots
        n_x = len(self.shared)
        first_import, first_energy, first_peak, _ = self._first_rows
        limit_row = np.full(self.binds.shape, -1)
        limit_row[self.binds] = np.arange(first_import)
        slots = np.arange(count)
        cols, rows, values = [], [], []

        def put(col: Ints, row: Ints, value: Floats | float) -> None:
            cols.append(col)
            rows.append(row)
            values.append(np.broadcast_to(value, col.shape))

        # Each column's limits, padded with zero coefficients to the largest count.
        involved = p.coef != 0
        width = int(involved.sum(axis=0).max(initial=0))
        limits = np.argsort(~involved, axis=0, kind="stable")[:width].T[self.session]
        coef = p.coef[limits, self.session[:, None]]
        row = limit_row[limits, self.period[:, None]]
        used = (row >= 0) & (coef != 0)
        put(np.broadcast_to(np.arange(n_p)[:, None], row.shape)[used], row[used], coef[used])
        s_of, t_of = np.nonzero(p.allowed)
        put(self.column[s_of, self.period_of[t_of]], first_import + t_of, -1.0)
        put(np.arange(n_p), first_energy + self.session, self._energy_kwh_per_kw)
        # The part above the fair share: the same rows as the session's slot-0 column.
        col, index, value = (np.concatenate(x) for x in (cols, rows, values))
        extra = np.full(n_p, -1)
        extra[self.shared] = n_p + np.arange(n_x)
        copied = extra[col] >= 0
        put(extra[col[copied]], index[copied], value[copied])
        imports = n_p + n_x
        put(imports + slots, first_import + slots, 1.0)
        if self.demand > 0:
            put(imports + slots, first_peak + slots, -1.0)
            put(np.full(count, imports + count), first_peak + slots, 1.0)
        col, index = np.concatenate(cols), np.concatenate(rows)
        order = np.lexsort((index, col))
        col, index, value = col[order], index[order], np.concatenate(values)[order]
        n_cols = imports + count + (self.demand > 0)
        return np.searchsorted(col, np.arange(n_cols)), index, value

    @property
    def _energy_kwh_per_kw(self) -> Floats:
        return self.hours_in[self.session, self.period]

    def _costs_and_bounds(self) -> tuple[Floats, Floats]:
        """Costs (divided by the price scale, which keeps the tie-break above HiGHS's
        tolerances) and upper bounds of every column."""
        p, count = self.problem, self.problem.slots
        scale = float(np.abs(p.import_cost).max(initial=0.0)) or 1.0
        c, e = p.import_cost, p.export_value
        tie = TIE_SPREAD * scale * np.arange(count) / max(count - 1, 1)
        # Per kWh delivered: a slot only partly open delivers its open share (the import
        # rows still count its power over the whole slot, which errs on the safe side).
        slot_cost = np.add.reduceat(p.allowed * (p.session_hours * (e + tie)), self.firsts, axis=1)
        p_cost = slot_cost[self.session, self.period]
        p_cost -= p.unmet_cost[self.session] * self._energy_kwh_per_kw
        p_cost += self._deferral_risk() * self._energy_kwh_per_kw
        p_cost -= self._premium_first() * self._energy_kwh_per_kw
        # Above its fair share a session pays a little more per kW: below any difference of
        # cost or time between slots (half a step of the tie-break), so it only decides ties,
        # but at least FAIR_TIE (above HiGHS's tolerances), so a partial slot is split too.
        step = TIE_SPREAD * scale / max(count - 1, 1) * p.request.grid.slot_hours
        above_fair = p_cost[self.shared] + max(step / 2, FAIR_TIE * scale)
        demand_cost = [np.array([self.demand])] if self.demand > 0 else []
        cost = np.concatenate([p_cost, above_fair, p.hours * (c - e), *demand_cost]) / scale
        upper = np.full(len(cost), INF)
        n_p, max_kw = len(self.session), self.cap_in[self.session, self.period] / 1000
        upper[:n_p] = max_kw
        fair_kw = self.fair_w[self.session[self.shared]] / 1000
        upper[self.shared] = fair_kw
        upper[n_p : n_p + len(self.shared)] = max_kw[self.shared] - fair_kw
        return cost, upper

    def _premium_first(self) -> Floats:
        """Money per kWh of every column earned by a first-served (premium) session in the
        periods it takes first (`Problem.contended`): `step` x the periods left after it.
        Each period earlier earns more than any session of a lower class could gain by the
        room there (the widest price, tie-break and hedge difference, plus its unmet value:
        premium first even if a standard EV then leaves short), so premium takes it first;
        between premium sessions the reward of a period is the same, so costs decide."""
        p = self.problem
        contended = np.add.reduceat(p.contended, self.firsts, axis=1) > 0  # (S, periods)
        mine = contended[self.session, self.period]
        if not mine.any():
            return np.zeros(len(self.session))
        later = ~p.first_served
        scale = float(np.abs(p.import_cost).max(initial=0.0)) or 1.0
        prices = float(p.import_cost.max() - p.export_value.min())
        hedge = p.request.weights.defer_risk_per_hour * float(p.hours.sum())
        step = 2 * (prices + TIE_SPREAD * scale + p.unmet_cost[later].max() * (1 + hedge))
        left = len(self.firsts) - self.period
        reward: Floats = np.where(mine, step * left, 0.0)
        return reward

    def _deferral_risk(self) -> Floats:
        """Money per kWh of every column for charging it later than the first slot: the hours
        ahead x `defer_risk_per_hour` x the session's unmet value x its congestion cubed.
        Only while a forecast expects more EVs: without one, nothing says any will come."""
        p = self.problem
        risk = p.request.weights.defer_risk_per_hour
        if risk <= 0 or not any(s.expected for s in p.request.sessions):
            return np.zeros(len(self.session))
        at_risk = p.unmet_cost * p.congestion() ** CONGESTION_EXPONENT  # (S,)
        starts_h = np.cumsum(p.hours) - p.hours  # hours from now to each slot's start
        hours_ahead = starts_h[self.firsts[self.period]]
        hedge: Floats = risk * at_risk[self.session] * hours_ahead
        return hedge

    def _row_bounds(self) -> tuple[Floats, Floats]:
        p = self.problem
        first_import, first_energy, first_peak, n_rows = self._first_rows
        lower, upper = np.full(n_rows, -INF), np.full(n_rows, INF)
        upper[:first_import] = self.headroom_w[self.binds] / 1000
        lower[first_import:first_energy] = p.site_fixed_w / 1000
        upper[first_energy:first_peak] = p.need_wh / 1000
        lower[first_peak:] = 0.0
        return lower, upper


def respect_minimum(problem: Problem, power_w: Floats) -> Floats:
    """Raise each rate below its session's minimum to the minimum, or drop it and deliver
    its energy elsewhere (see the module docstring); never uses room that is not there."""
    tiny = 1e-6
    power_w = np.where(power_w > tiny, power_w, 0.0)
    peak_w = float((problem.site_fixed_w + power_w.sum(axis=0)).max())
    with_demand_charge = problem.request.weights.demand_charge_per_kw > 0
    ledger = Ledger(problem, power_w, peak_w if with_demand_charge else math.inf)
    sessions, slots = np.nonzero((power_w > 0) & (power_w < problem.min_w[:, None] - tiny))
    rates = power_w[sessions, slots]
    order = np.lexsort((-rates, -problem.unmet_cost[sessions], slots))
    dropped: set[int] = set()
    for s, t in zip(sessions[order].tolist(), slots[order].tolist(), strict=True):
        rate = ledger.power_w[s, t]
        lift = problem.min_w[s] - rate
        fits = (
            ledger.room_at(s, t) >= lift and ledger.left_wh[s] >= lift * problem.session_hours[s, t]
        )
        ledger.add_at(s, t, lift if fits else -rate)
        if not fits:
            dropped.add(s)
    for s in sorted(dropped, key=lambda s: -problem.unmet_cost[s]):
        ledger.top_up(s)
    return ledger.power_w
