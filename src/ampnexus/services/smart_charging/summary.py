"""A site plan as the `PlanUpdated` event tells it: each real session's power where it
changes, its energy and cost, and the slots a constraint limits. Expected EVs (forecasts)
are left out: no charger and no integrator acts on them."""

from __future__ import annotations

import numpy as np

from ampnexus.charging.model import Plan, Session
from ampnexus.domain.events import PlannedSession, PlanUpdated
from ampnexus.services.smart_charging.model import SitePlan


def plan_updated(site_plan: SitePlan) -> PlanUpdated:
    plan = site_plan.plan
    sessions = {s.id: s for s in site_plan.request.sessions}
    planned = tuple(
        _planned(plan, sessions[session_id], charger, connector, transaction_id, site_plan)
        for session_id, (charger, connector, transaction_id) in site_plan.transactions.items()
        if session_id in sessions
    )
    binding = tuple(
        (plan.grid.slot_start(index), slot.binding)
        for index, slot in enumerate(plan.slots)
        if slot.binding is not None
    )
    return PlanUpdated(
        site_id=site_plan.site_id,
        at=site_plan.made_at,
        method=plan.method,
        sessions=planned,
        binding=binding,
        alerts=tuple(site_plan.alerts),
    )


def _planned(
    plan: Plan,
    session: Session,
    charger: str,
    connector: int,
    transaction_id: int,
    site_plan: SitePlan,
) -> PlannedSession:
    grid = plan.grid
    watts = np.round(np.asarray(plan.power_w[session.id], dtype=float), 1)
    changes = [0, *(np.flatnonzero(np.diff(watts)) + 1).tolist()] if len(watts) else []
    steps = tuple((grid.slot_start(i), float(watts[i])) for i in changes)
    hours = np.full(len(watts), grid.slot_seconds / 3600)
    if len(hours):
        hours[0] = grid.hours_left(0)
    for index, share in session.open_shares:  # slots the session is in for a part only
        if index < len(hours):
            hours[index] *= share
    energy = watts * hours
    prices = site_plan.request.series.import_price
    cost = None
    if prices:
        n = min(len(prices), len(energy))
        cost = round(float(np.dot(energy[:n], np.asarray(prices[:n]))) / 1000, 4)
    return PlannedSession(
        transaction_id=transaction_id,
        charge_point_id=charger,
        connector_id=connector,
        power_w=steps,
        energy_needed_wh=round(session.energy_wh, 1),
        energy_planned_wh=round(float(energy.sum()), 1),
        cost=cost,
        waiting_reason=site_plan.waiting_reason(session.id),
    )
