"""A fast, always-feasible plan: priority first, then least laxity, cheapest slots first.

Sessions are served one at a time: higher unmet-energy weight first (premium, then
standard, then expected sessions, forecasts of EVs not yet plugged in) and, within a weight,
least laxity first (laxity = hours it may still charge minus hours it needs at full power, so the
session with the least spare time picks first). Each session takes the room every limit
leaves it (site import cap, every circuit's power and per-phase current, its own maximum)
in its allowed slots, cheapest marginal cost first (a slot exporting solar costs the export
price, others the import price plus carbon), earlier first on ties, until its energy is
delivered. A slot is never started below the session's minimum rate. A plugged-in premium
session takes the slots it contends for with lower classes (`Problem.contended`) earliest
first, before its cheapest others: premium is served first wherever a shared limit binds.

With a demand charge, the fill is repeated under flat caps on site import: the "water level"
(the flattest import that could deliver every session's energy if windows did not matter),
then caps between one and 2.5 times it, searched golden-section style for the lowest
objective, as many times as the time budget allows. The best plan, uncapped included, wins.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from time import perf_counter

import numpy as np
import numpy.typing as npt

from ampnexus.charging.problem import SITE_POWER, Floats, Ledger, Problem

CAP_RANGE = (1.0, 2.5)  # import caps searched under a demand charge, times the water level
CAP_EVALUATIONS = 6
BUDGET_SHARE = 0.5  # of the time budget for fills; the rest is for building and explaining


def fill(problem: Problem, time_budget_s: float = math.inf) -> Floats:
    """Controllable power per session and slot (W)."""
    started = perf_counter()
    uncapped = fill_under(problem, math.inf)
    if problem.request.weights.demand_charge_per_kw <= 0:
        return uncapped
    each_s = perf_counter() - started
    affordable = BUDGET_SHARE * time_budget_s / max(each_s, 1e-6) - 2  # the two fills so far
    evaluations = int(min(CAP_EVALUATIONS, affordable))
    level = water_level(problem)
    plans = [uncapped, fill_under(problem, level)]

    def cost(factor: float) -> float:
        plans.append(fill_under(problem, level * factor))
        return problem.objective(plans[-1])

    golden_section(cost, *CAP_RANGE, evaluations)
    return min(plans, key=problem.objective)


def golden_section(cost: Callable[[float], float], low: float, high: float, calls: int) -> None:
    """Narrow [low, high] around the minimum of a unimodal `cost`, calling it `calls` times."""
    if calls < 2:
        return
    shrink = (math.sqrt(5) - 1) / 2
    inner_low, inner_high = high - shrink * (high - low), low + shrink * (high - low)
    cost_low, cost_high = cost(inner_low), cost(inner_high)
    for _ in range(calls - 2):
        if cost_low <= cost_high:
            high, inner_high, cost_high = inner_high, inner_low, cost_low
            inner_low = high - shrink * (high - low)
            cost_low = cost(inner_low)
        else:
            low, inner_low, cost_low = inner_low, inner_high, cost_high
            inner_high = low + shrink * (high - low)
            cost_high = cost(inner_high)


def fill_under(problem: Problem, import_cap_w: float) -> Floats:
    ledger = Ledger(problem, import_cap_w=import_cap_w)
    for session in serving_order(problem).tolist():
        if not problem.allowed[session].any():
            continue
        first = problem.first_served[session] and problem.contended[session].any()
        ledger.top_up(session, ledger.first_served_order(session) if first else None)
    return ledger.power_w


def serving_order(problem: Problem) -> npt.NDArray[np.intp]:
    hours_allowed = (problem.allowed * problem.session_hours).sum(axis=1)
    hours_needed = problem.need_wh / np.maximum(problem.max_w, 1e-9)
    laxity = hours_allowed - hours_needed
    return np.lexsort((laxity, -problem.unmet_cost))  # priority first, forecast EVs last


def water_level(problem: Problem) -> float:
    """The lowest flat site import that leaves room for all energy still needed."""
    fixed, room = problem.site_fixed_w, problem.headroom_w[SITE_POWER]
    needed_wh = problem.need_wh[problem.allowed.any(axis=1)].sum()
    low = float(fixed.min(initial=0.0))
    high = float((fixed + np.minimum(room, 1e12)).max(initial=0.0))
    for _ in range(50):
        level = (low + high) / 2
        if np.clip(level - fixed, 0.0, room) @ problem.hours < needed_wh:
            low = level
        else:
            high = level
    return high
