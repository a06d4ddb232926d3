"""Sites: the list, and one site's plan for the next hours (a chart, reloaded when the site
is replanned), its demand-response events, its circuit tree with the chargers on it, its
tariffs and default mode."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ampnexus.domain.charging_mode import DEFAULT_MODE
from ampnexus.domain.errors import DomainError, NotFound
from ampnexus.domain.site import Circuit, Placement, SiteLayout
from ampnexus.portal.auth import Viewer
from ampnexus.portal.pages.dashboard import WAITING_REASONS
from ampnexus.portal.pages.site_demand_response import site_events
from ampnexus.portal.render import page
from ampnexus.services.smart_charging import SitePlan

if TYPE_CHECKING:
    from ampnexus.app import Services

router = APIRouter()

PAGE = 1000  # sites and chargers read for the list
TARIFFS_SHOWN = 100
# Sessions stack in these colours, in turn; the site's own lines have their own.
EXPECTED = "Expected EVs (forecast)"
PALETTE = ("#0b6bcb", "#1a7f37", "#8250df", "#bf3989", "#9a6700", "#0a7e8c", "#cf222e")


# --- the list ---------------------------------------------------------------------------------
@router.get("/sites", response_class=HTMLResponse)
async def sites_page(request: Request, signed: Viewer) -> Response:
    services: Services = request.app.state.services
    sites = (await services.sites.list(PAGE, 0)).items
    chargers = (await services.charge_points.list(PAGE, 0)).items
    placed = Counter(view.charge_point.site_id for view in chargers)
    return page(
        request,
        "sites.html",
        signed,
        nav="sites",
        sites=sites,
        placed=placed,
        default_mode=DEFAULT_MODE,
    )


# --- one site ---------------------------------------------------------------------------------
@dataclass
class CircuitNode:
    """A circuit of the tree with the chargers hung on it and the circuits below it."""

    circuit: Circuit
    chargers: list[Placement] = field(default_factory=list)
    children: list[CircuitNode] = field(default_factory=list)


def circuit_tree(layout: SiteLayout) -> tuple[list[CircuitNode], list[Placement]]:
    """The roots of the site's tree (one, when it has circuits), and the chargers placed on
    the site but on no circuit (they count against the site's limit only)."""
    nodes = {c.id: CircuitNode(c) for c in layout.circuits}
    roots: list[CircuitNode] = []
    for node in nodes.values():
        parent = nodes.get(node.circuit.parent_id or "")
        (parent.children if parent else roots).append(node)
    loose: list[Placement] = []
    for placement in sorted(layout.placements, key=lambda p: p.charge_point_id):
        feeder = nodes.get(placement.circuit_id or "")
        (feeder.chargers if feeder else loose).append(placement)
    return roots, loose


@router.get("/sites/{site_id}", response_class=HTMLResponse)
async def site_page(request: Request, site_id: str, signed: Viewer) -> Response:
    services: Services = request.app.state.services
    try:
        layout = await services.sites.layout(site_id)
        tariffs = (await services.tariffs.list(site_id, TARIFFS_SHOWN, 0)).items
    except NotFound as error:
        return page(request, "not_found.html", signed, 404, nav="sites", message=str(error))
    roots, loose = circuit_tree(layout)
    view = await _plan_view(services, site_id, layout)
    return page(
        request,
        "site.html",
        signed,
        nav="sites",
        site=layout.site,
        roots=roots,
        loose=loose,
        placements=sorted(layout.placements, key=lambda p: p.charge_point_id),
        tariffs=tariffs,
        default_mode=DEFAULT_MODE,
        view=view,
        events=await site_events(services, site_id),
    )


@router.get("/fragments/sites/{site_id}/plan", response_class=HTMLResponse)
async def plan_fragment(request: Request, site_id: str, signed: Viewer) -> Response:
    services: Services = request.app.state.services
    try:
        layout = await services.sites.layout(site_id)
    except NotFound as error:
        return page(request, "_flash.html", signed, 404, message=str(error), ok=False)
    view = await _plan_view(services, site_id, layout)
    return page(request, "_site_plan.html", signed, site=layout.site, view=view)


@router.get("/fragments/sites/{site_id}/demand-response", response_class=HTMLResponse)
async def demand_response_fragment(request: Request, site_id: str, signed: Viewer) -> Response:
    """The site's events, reloaded when one is received or ends."""
    services: Services = request.app.state.services
    try:
        site = await services.sites.get(site_id)
    except NotFound as error:
        return page(request, "_flash.html", signed, 404, message=str(error), ok=False)
    events = await site_events(services, site_id)
    return page(request, "_site_demand_response.html", signed, site=site, events=events)


@dataclass(frozen=True, slots=True)
class PlannedRow:
    """A session of the plan under the chart: its colour there, its power now, and why it
    waits if it does."""

    label: str
    colour: str
    now_kw: float
    waiting: str | None


@dataclass(frozen=True, slots=True)
class PlanView:
    """The plan's chart, or why there is none."""

    chart: dict[str, Any] | None
    problem: str | None = None
    plan: SitePlan | None = None
    sessions: list[PlannedRow] = field(default_factory=list)


async def _plan_view(services: Services, site_id: str, layout: SiteLayout) -> PlanView:
    """The plan in force, made now when the site has none yet (as the API's GET does)."""
    site_plan = services.smart_charging.current_plan(site_id)
    if site_plan is None:
        try:
            site_plan = await services.smart_charging.replan(site_id)
        except DomainError as error:
            return PlanView(None, str(error))
    chart = plan_chart(site_plan, layout)
    return PlanView(chart, None, site_plan, _planned_rows(site_plan, chart))


def _planned_rows(site_plan: SitePlan, chart: dict[str, Any]) -> list[PlannedRow]:
    """The chart's session series (each after the base load) with why each waits."""
    reasons = {label: site_plan.waiting_reason(sid) for sid, label in _labels(site_plan).items()}
    return [
        PlannedRow(
            s["label"],
            s["color"],
            s["values"][0] if s["values"] else 0.0,
            WAITING_REASONS.get(reason, reason) if (reason := reasons.get(s["label"])) else None,
        )
        for s in chart["series"][1:]
        if s.get("stack")
    ]


def _labels(site_plan: SitePlan) -> dict[str, str]:
    """Each real session's name on the chart: charger/connector #transaction."""
    return {sid: f"{cp}/{connector} #{tx}" for sid, (cp, connector, tx) in _real(site_plan)}


def plan_chart(site_plan: SitePlan, layout: SiteLayout) -> dict[str, Any]:
    """The chart's data (charts.js): per slot of the plan, the site's base load with each
    session's planned power stacked on it, against the site's limit and the slot's cap
    (what the plan may import), with solar and the import price (second axis)."""
    plan, site = site_plan.plan, layout.site
    slots = plan.slots
    x = [plan.grid.slot_start(i).astimezone(UTC).timestamp() for i in range(len(slots))]
    series: list[dict[str, Any]] = [
        _line("Base load", [s.base_load_w for s in slots], "#8c959f", stack=True, fill=True)
    ]
    labels = _labels(site_plan)
    real = sorted((sid for sid in plan.power_w if sid in labels), key=labels.__getitem__)
    for index, session_id in enumerate(real):
        colour = PALETTE[index % len(PALETTE)]
        series.append(
            _line(labels[session_id], plan.power_w[session_id], colour, stack=True, step=True)
        )
    # Forecast EVs, not plugged in yet: one band for the room the plan keeps for them.
    expected = [watts for sid, watts in plan.power_w.items() if sid not in labels]
    if expected:
        summed = [sum(column) for column in zip(*expected, strict=True)]
        series.append(_line(EXPECTED, summed, "#afb8c1", stack=True, step=True))
    series.append(_line("Cap", [s.cap_w for s in slots], "#d4a72c", dash=True, step=True))
    series.append(_line("Solar", [s.solar_w for s in slots], "#e3b341"))
    if site.grid_limit_w is not None:  # last of the kW lines: drawn over the cap it may equal
        series.append(_line("Site limit", [site.grid_limit_w] * len(slots), "#cf222e", dash=True))
    if any(s.import_price is not None for s in slots):
        series.append(
            {
                "label": "Price",
                "unit": "per kWh",
                "values": [s.import_price for s in slots],
                "color": "#6e7781",
                "axis": "right",
                "step": True,
            }
        )
    return {
        "zone": site.time_zone,
        "x": x,
        "axes": {"left": "kW", "right": "price per kWh"},
        "series": series,
    }


def _real(site_plan: SitePlan) -> list[tuple[str, tuple[str, int, int]]]:
    return list(site_plan.transactions.items())


def _line(
    label: str,
    watts: Any,
    colour: str,
    *,
    stack: bool = False,
    fill: bool = False,
    dash: bool = False,
    step: bool = False,
) -> dict[str, Any]:
    return {
        "label": label,
        "unit": "kW",
        "values": [round(float(w) / 1000, 3) for w in watts],
        "color": colour,
        "stack": stack,
        "fill": fill,
        "dash": [6, 4] if dash else None,
        "step": step,
    }
