"""Smart-charging planner: one LP over the horizon on HiGHS, re-solved at every replan
(rolling horizon: only the first slots of each plan are ever executed).

Variables (kW inside the LP, W outside):
  p[s,t] >= 0  power of controllable session s in slot t, only for the slots of its
               plug-in window that are not blocked (see `problem` for the slot rules);
               p[s,t] <= max_power_w.
  imp[t] >= 0  grid import; peak >= 0 the highest import (only with a demand charge).

Objective (money; h = slot hours; c = import price + carbon weight * carbon; e = export
price, at most c; w_s = unmet_per_kwh * priority weight; d = demand charge per kW):
  min  sum_t h * (c[t] - e[t]) * imp[t]       import at c, export at e: with
     + sum_s,t h * e[t] * p[s,t]              imp >= net this is c*max(0,net) - e*max(0,-net)
     + d * peak
     - sum_s,t h * w_s * p[s,t]               = unmet penalty, less its constant part
     + sum_s,t h * tie[t] * p[s,t]            tie grows with t, 1e-3 of the price scale at the
                                              end: among equal costs, charge earlier
Constraints, every slot t:
  imp[t] - sum_s p[s,t] >= base[t] - solar[t] + uncontrollable[t]       (defines import)
  peak - imp[t] >= 0                                                    (demand charge only)
  for every limit (site import cap = min(root limit, cap_w[t]); each circuit's power; each
  per-phase current of the site and of each circuit, as W per phase):
      sum_s coef[limit,s] * p[s,t] <= limit * (1 - safety_margin) - fixed load on it
  and for every session: h * sum_t p[s,t] <= energy_wh.
Uncontrollable sessions are not variables: they are fixed load at max_power_w while present.
Rows that cannot bind (all their sessions at full power fit) are left out.

Minimum rate: the LP is continuous, so a session may get 0 < p < min_power_w. A rounding
pass then visits those slots in time order (higher priority, then larger p first): p is
raised to the minimum where every limit and the energy still needed leave room, otherwise
set to 0; sessions that lost energy get it back in their cheapest slots with room without
starting any slot below the minimum (the heuristic's fill). Every step only uses room that is
left, so no limit can break; the result may be slightly off optimal.

If the LP looks too large for the time budget (estimated from its nonzeros), fails, or ends
without an optimal status, method="auto" returns the heuristic's plan instead, with the
reason in `Plan.status`, so the site always has a safe plan.
"""

from __future__ import annotations

from time import perf_counter

import highspy
import numpy as np

from ampnexus.charging import heuristic
from ampnexus.charging.model import Plan, PlanRequest
from ampnexus.charging.problem import Floats, Ints, Ledger, Problem, compile_problem, to_plan

METHODS = ("auto", "lp", "heuristic")
SECONDS_PER_NONZERO = 2e-6  # measured on a 2-core machine, with room to spare
TIE_SPREAD = 1e-3  # of the price scale, from the first slot to the last
INF = highspy.kHighsInf


class PlanningError(RuntimeError):
    """The LP gave no optimal plan."""


def plan(request: PlanRequest, *, time_budget_s: float = 1.0, method: str = "auto") -> Plan:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    started = perf_counter()
    problem = compile_problem(request)
    if method == "heuristic":
        return _heuristic(problem, started, "feasible")
    lp = LinearProgram(problem)
    if method == "auto" and lp.nonzeros * SECONDS_PER_NONZERO > time_budget_s:
        return _heuristic(problem, started, "fallback: too large for the time budget")
    try:
        power = np.zeros(problem.allowed.shape)
        power[lp.session, lp.slot] = lp.solve(time_budget_s - (perf_counter() - started))
        power = np.clip(power, 0.0, problem.max_w[:, None])
    except Exception as error:  # any solver failure: the site still needs a safe plan
        if method == "lp":
            raise
        return _heuristic(problem, started, f"fallback: {error}")
    power = respect_minimum(problem, power)
    return to_plan(problem, power, "highs", _ms_since(started), "optimal")


def _heuristic(problem: Problem, started: float, status: str) -> Plan:
    return to_plan(problem, heuristic.fill(problem), "heuristic", _ms_since(started), status)


def _ms_since(started: float) -> float:
    return (perf_counter() - started) * 1000


class LinearProgram:
    """The LP in HiGHS's column-wise form: p columns (in `session`, `slot` order), imp, peak."""

    def __init__(self, problem: Problem) -> None:
        self.session, self.slot = np.nonzero(problem.allowed)
        count, hours = problem.slots, problem.hours
        demand = problem.request.weights.demand_charge_per_kw
        limit_rows = _limit_row_numbers(problem)
        first_import = int(limit_rows.max(initial=-1)) + 1
        first_energy = first_import + count
        first_peak = first_energy + len(problem.max_w)
        n_rows = first_peak + (count if demand > 0 else 0)
        slots = np.arange(count)

        # Columns: p (limits, import, energy rows); imp[t] (import, peak rows); peak.
        columns = [self._p_entries(problem, limit_rows, first_import, first_energy)]
        imp_rows, imp_coef = [first_import + slots], [np.ones(count)]
        if demand > 0:
            imp_rows.append(first_peak + slots)
            imp_coef.append(-np.ones(count))
        per_imp = np.full(count, len(imp_rows))
        columns.append(
            (np.column_stack(imp_rows).ravel(), np.column_stack(imp_coef).ravel(), per_imp)
        )
        if demand > 0:
            columns.append((first_peak + slots, np.ones(count), np.array([count])))
        self.index = np.concatenate([rows for rows, _, _ in columns])
        self.value = np.concatenate([coef for _, coef, _ in columns])
        lengths = np.concatenate([length for _, _, length in columns])
        self.start = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        self.nonzeros = len(self.index)

        # Costs divided by the price scale keep the tie-break above HiGHS's tolerances.
        scale = float(np.abs(problem.import_cost).max(initial=0.0)) or 1.0
        tie = TIE_SPREAD * scale * slots / max(count - 1, 1)
        c, e = problem.import_cost, problem.export_value
        p_cost = hours * (e[self.slot] - problem.unmet_cost[self.session] + tie[self.slot])
        extra_cost = [np.array([demand])] if demand > 0 else []
        self.cost = np.concatenate([p_cost, hours * (c - e), *extra_cost]) / scale
        self.lower = np.zeros(len(self.cost))
        self.upper = np.full(len(self.cost), INF)
        self.upper[: len(self.session)] = problem.max_w[self.session] / 1000

        self.row_lower = np.full(n_rows, -INF)
        self.row_upper = np.full(n_rows, INF)
        kept = limit_rows >= 0
        self.row_upper[limit_rows[kept]] = problem.headroom_w[kept] / 1000
        self.row_lower[first_import:first_energy] = problem.site_fixed_w / 1000
        self.row_upper[first_energy:first_peak] = problem.need_wh / 1000
        self.row_lower[first_peak:] = 0.0

    def _p_entries(
        self, problem: Problem, limit_rows: Ints, first_import: int, first_energy: int
    ) -> tuple[Ints, Floats, Ints]:
        """Rows, coefficients and count of entries of every p column, all columns at once."""
        involved = problem.coef != 0  # (limits, sessions)
        width = int(involved.sum(axis=0).max(initial=0))
        limits = np.argsort(~involved, axis=0, kind="stable")[:width].T[self.session]
        rows = limit_rows[limits, self.slot[:, None]]
        coef = problem.coef[limits, self.session[:, None]]
        n = len(self.session)
        rows = np.column_stack([rows, first_import + self.slot, first_energy + self.session])
        coef = np.column_stack([coef, -np.ones(n), np.full(n, problem.hours)])
        valid = (rows >= 0) & (coef != 0)
        return rows[valid], coef[valid], valid.sum(axis=1)

    def solve(self, time_budget_s: float) -> Floats:
        """p per column (W); raises PlanningError unless HiGHS reports an optimum."""
        highs = highspy.Highs()  # type: ignore[no-untyped-call]
        highs.setOptionValue("output_flag", False)
        highs.setOptionValue("time_limit", max(time_budget_s, 0.01))
        status = highs.passModel(
            len(self.cost),
            len(self.row_lower),
            self.nonzeros,
            int(highspy.MatrixFormat.kColwise),
            int(highspy.ObjSense.kMinimize),
            0.0,
            self.cost,
            self.lower,
            self.upper,
            self.row_lower,
            self.row_upper,
            self.start.astype(np.int32),
            self.index.astype(np.int32),
            self.value,
            np.zeros(len(self.cost), dtype=np.int32),  # all continuous
        )
        if status != highspy.HighsStatus.kOk:
            raise PlanningError(f"HiGHS refused the model ({status})")
        highs.run()
        model_status = highs.getModelStatus()
        if model_status != highspy.HighsModelStatus.kOptimal:
            raise PlanningError(f"HiGHS: {highs.modelStatusToString(model_status)}")
        values = np.asarray(highs.getSolution().col_value)[: len(self.session)]
        return values * 1000


def _limit_row_numbers(problem: Problem) -> Ints:
    """Row number of each (limit, slot), -1 where full power of everyone allowed still fits."""
    at_full = problem.coef @ (problem.allowed * problem.max_w[:, None])
    binds = at_full > problem.headroom_w + 1e-6
    rows = np.full(binds.shape, -1, dtype=np.int64)
    rows[binds] = np.arange(int(binds.sum()))
    return rows


def respect_minimum(problem: Problem, power_w: Floats) -> Floats:
    """Raise each rate below its session's minimum to the minimum, or drop it and deliver
    its energy elsewhere (see the module docstring); never uses room that is not there."""
    tiny = 1e-6
    power_w = np.where(power_w > tiny, power_w, 0.0)
    ledger = Ledger(problem, power_w)
    sessions, slots = np.nonzero((power_w > 0) & (power_w < problem.min_w[:, None] - tiny))
    rates = power_w[sessions, slots]
    order = np.lexsort((-rates, -problem.unmet_cost[sessions], slots))
    dropped: set[int] = set()
    for s, t in zip(sessions[order].tolist(), slots[order].tolist(), strict=True):
        rate, slot = ledger.power_w[s, t], np.array([t])
        lift = problem.min_w[s] - rate
        fits = ledger.room(s, slot)[0] >= lift and ledger.left_wh[s] >= lift * problem.hours
        ledger.add(s, slot, np.array([lift if fits else -rate]))
        if not fits:
            dropped.add(s)
    for s in sorted(dropped, key=lambda s: -problem.unmet_cost[s]):
        ledger.top_up(s)
    return ledger.power_w
