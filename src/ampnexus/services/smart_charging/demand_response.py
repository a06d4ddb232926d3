"""Demand-response limits in a plan request, as the site import cap `SiteSeries.cap_w`;
price events as its import price.

The planner's `cap_w` caps the site's whole import (EVs plus the building, less solar),
while an event limits the EV load alone. So each slot's EV limit is turned into the import
cap that leaves the EVs exactly that: cap = (EV limit + base load - solar) / (1 - margin),
since the planner keeps the site's safety margin free of every cap (the EVs follow their
profiles, so their own limit needs no margin; the physical limits keep theirs).

- An absolute limit (LOAD_DISPATCH setpoint) counts every EV: the uncontrollable ones too.
- A cut (SIMPLE level) sheds a share of the flexible EV load: what the controllable
  sessions (plugged in and expected) could draw in the slot, within the site's room. The
  uncontrollable ones are not flexible and are left whole. The share applies to what could
  be drawn, not to a plan made without the event: the limit stays the same on every
  replan, however the plan moved energy out of the event's slots.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from ampnexus.charging.model import PlanRequest
from ampnexus.charging.problem import SITE_POWER, compile_problem, per_slot
from ampnexus.domain.demand_response import SlotLimit, SlotPrice, any_limit


def with_demand_response(
    request: PlanRequest,
    limits: Sequence[SlotLimit],
    prices: Sequence[SlotPrice | None] = (),
) -> PlanRequest:
    """The request with its import cap lowered where the limits ask and its import price
    changed where price events say; as it was without either."""
    return _capped(_priced(request, prices), limits)


def _priced(request: PlanRequest, prices: Sequence[SlotPrice | None]) -> PlanRequest:
    """A site without a tariff has a price of 0 outside the events' slots."""
    if not any(prices):
        return request
    series = request.series
    base = per_slot(series.import_price, request.grid.count, 0.0)
    priced = [float(price) for price in base]
    for t, price in enumerate(prices[: len(priced)]):
        if price is not None:
            priced[t] = price.applied(priced[t])
    return replace(request, series=replace(series, import_price=tuple(priced)))


def _capped(request: PlanRequest, limits: Sequence[SlotLimit]) -> PlanRequest:
    if not any_limit(limits):
        return request
    problem = compile_problem(request)
    count = request.grid.count
    series = request.series
    net = per_slot(series.base_load_w, count, 0.0) - per_slot(series.solar_w, count, 0.0)
    fixed_ev = problem.fixed_w.sum(axis=0)
    could_draw = (np.where(problem.allowed, problem.cap_w, 0.0)).sum(axis=0)
    flexible = np.minimum(could_draw, problem.headroom_w[SITE_POWER])
    keep = max(1.0 - request.safety_margin, 1e-9)
    caps = list(per_slot(series.cap_w, count, math.inf))
    for t, limit in enumerate(limits[:count]):
        if not limit.binds:
            continue  # no event here, or one asking nothing (SIMPLE level 0)
        ev_limit = min(limit.ev_limit_w, fixed_ev[t] + (1.0 - limit.cut) * flexible[t])
        caps[t] = min(caps[t], (ev_limit + net[t]) / keep)
    return replace(request, series=replace(series, cap_w=tuple(float(c) for c in caps)))


def shaped_by(
    limits: Sequence[SlotLimit], prices: Sequence[SlotPrice | None], count: int
) -> tuple[tuple[str, ...], ...]:
    """Per slot, the events that lower its cap or set its price (() when none does)."""
    if not any_limit(limits) and not any(prices):
        return ()
    out = []
    for t in range(count):
        limit = limits[t] if t < len(limits) else None
        price = prices[t] if t < len(prices) else None
        ids = limit.event_ids if limit is not None and limit.binds else ()
        out.append(ids + ((price.event_id,) if price and price.event_id not in ids else ()))
    return tuple(out)
