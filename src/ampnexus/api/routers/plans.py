"""A site's current charging plan, and why it looks the way it does."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from ampnexus.api.deps import ServicesDep
from ampnexus.charging.model import Plan, Session
from ampnexus.services.smart_charging import SitePlan

router = APIRouter(prefix="/sites", tags=["plans"])


class PlanSlot(BaseModel):
    start: datetime
    cap_kw: float = Field(description="What the site may import in this slot")
    base_load_kw: float
    solar_kw: float
    import_price: float | None
    binding: str | None = Field(description="The constraint that limits this slot, if any")
    demand_response: list[str] = Field(
        default_factory=list,
        description="The demand-response events (VTN event ids) that lower this slot's cap "
        "or set its price",
    )


class PlannedSession(BaseModel):
    session_id: str
    expected: bool = Field(
        False,
        description="A forecast EV, not plugged in: room kept for it, no charger is told",
    )
    charge_point_id: str | None = Field(description="None for an expected session")
    connector_id: int | None
    transaction_id: int | None
    priority: str
    departure: datetime
    energy_needed_kwh: float
    planned_kwh: float
    unmet_kwh: float
    power_kw: list[float] = Field(description="Planned power per slot")
    mode: str | None = Field(None, description="The charging mode that shaped the session")
    waiting_reason: str | None = Field(
        None,
        description="Why it is planned nothing now: peak_window, random_delay, "
        "outside_schedule, user_controlled, demand_response (an event's cap on the site), "
        "waiting_for_price, waiting_for_solar, limit_reached or planned_later (None: it "
        "charges, or needs nothing more)",
    )
    demand_response: list[str] = Field(
        default_factory=list,
        description="Regulation mode: the demand-response events (VTN event ids) in whose "
        "time its random delays are not applied",
    )


class PlanOut(BaseModel):
    site_id: str
    made_at: datetime
    stale: bool = Field(
        description="The latest replan failed: this is the last good plan, still in force"
    )
    error: str | None = Field(description="Why the latest replan failed (when stale)")
    failed_at: datetime | None = Field(description="When the latest replan failed (when stale)")
    method: str = Field(description="highs (the LP) or heuristic (fallback)")
    status: str
    solve_ms: float
    slot_seconds: int
    alerts: list[str]
    slots: list[PlanSlot]
    sessions: list[PlannedSession]

    @classmethod
    def of(cls, site_plan: SitePlan) -> PlanOut:
        plan, request, failure = site_plan.plan, site_plan.request, site_plan.failure
        grid = plan.grid
        events = site_plan.demand_response
        sessions = {s.id: s for s in request.sessions}
        return cls(
            site_id=site_plan.site_id,
            made_at=site_plan.made_at,
            stale=site_plan.stale,
            error=failure.error if failure else None,
            failed_at=failure.failed_at if failure else None,
            method=plan.method,
            status=plan.status,
            solve_ms=round(plan.solve_ms, 1),
            slot_seconds=grid.slot_seconds,
            alerts=site_plan.alerts,
            slots=[
                PlanSlot(
                    start=grid.slot_start(index),
                    cap_kw=_kw(slot.cap_w),
                    base_load_kw=_kw(slot.base_load_w),
                    solar_kw=_kw(slot.solar_w),
                    import_price=slot.import_price,
                    binding=slot.binding,
                    demand_response=list(events[index]) if index < len(events) else [],
                )
                for index, slot in enumerate(plan.slots)
            ],
            sessions=[
                _planned(plan, sessions[session_id], charger, connector, transaction_id).model_copy(
                    update={
                        "mode": site_plan.mode_of(session_id),
                        "waiting_reason": site_plan.waiting_reason(session_id),
                        "demand_response": list(site_plan.exempted_by(session_id)),
                    }
                )
                for session_id, (charger, connector, transaction_id) in (
                    site_plan.transactions.items()
                )
            ]
            + [_planned(plan, s, None, None, None) for s in request.sessions if s.expected],
        )


def _planned(
    plan: Plan,
    session: Session,
    charger: str | None,
    connector: int | None,
    transaction_id: int | None,
) -> PlannedSession:
    return PlannedSession(
        session_id=session.id,
        expected=session.expected,
        charge_point_id=charger,
        connector_id=connector,
        transaction_id=transaction_id,
        priority=session.priority.name.lower(),
        departure=session.departure,
        energy_needed_kwh=round(session.energy_wh / 1000, 3),
        planned_kwh=round(plan.energy_wh(session.id, session.open_shares) / 1000, 3),
        unmet_kwh=round(plan.unmet_wh.get(session.id, 0.0) / 1000, 3),
        power_kw=[_kw(w) for w in plan.power_w[session.id]],
    )


def _kw(watts: float) -> float:
    return round(watts / 1000, 3)


@router.get("/{site_id}/plan", response_model=PlanOut)
async def current_plan(site_id: str, services: ServicesDep) -> PlanOut:
    """The plan in force: per session and slot the planned kW; per slot the site's cap, base
    load, solar, price and the binding constraint. Made now if the site has none yet. When
    the latest replan failed, the last good plan with `stale` and the error (503: none)."""
    await services.sites.get(site_id)  # 404 for an unknown site
    site_plan = services.smart_charging.current_plan(site_id)
    if site_plan is None:
        site_plan = await services.smart_charging.replan(site_id)
    return PlanOut.of(site_plan)


@router.post("/{site_id}/plan", response_model=PlanOut)
async def replan(site_id: str, services: ServicesDep) -> PlanOut:
    """Replan now (plans are also remade on every relevant event and on a timer). A failed
    replan answers with the last good plan, marked `stale` (503 when there is none)."""
    await services.sites.get(site_id)
    return PlanOut.of(await services.smart_charging.replan(site_id))
