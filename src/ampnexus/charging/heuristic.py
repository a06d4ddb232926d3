"""A fast, always-feasible plan: priority first, then least laxity, cheapest slots first.

Sessions are served one at a time: higher priority first and, within a priority, least
laxity first (laxity = hours it may still charge minus hours it needs at full power, so the
session with the least spare time picks first). Each session takes the room every limit
leaves it (site import cap, every circuit's power and per-phase current, its own maximum)
in its allowed slots, cheapest marginal cost first (a slot exporting solar costs the export
price, others the import price plus carbon), earlier first on ties, until its energy is
delivered. A slot is never started below the session's minimum rate. The demand charge is
ignored. Used on its own (method="heuristic") and whenever the LP cannot give an answer.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ampnexus.charging.problem import Ledger, Problem


def serving_order(problem: Problem) -> npt.NDArray[np.intp]:
    priority = np.array([s.priority for s in problem.request.sessions], dtype=np.float64)
    hours_allowed = problem.allowed.sum(axis=1) * problem.hours
    hours_needed = problem.need_wh / np.maximum(problem.max_w, 1e-9)
    laxity = hours_allowed - hours_needed
    return np.lexsort((laxity, -priority))


def fill(problem: Problem) -> npt.NDArray[np.float64]:
    """Controllable power per session and slot (W)."""
    ledger = Ledger(problem)
    for session in serving_order(problem):
        if problem.allowed[session].any():
            ledger.top_up(int(session))
    return ledger.power_w
