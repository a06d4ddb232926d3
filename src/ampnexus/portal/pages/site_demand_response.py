"""A site's demand-response events on its page: those of the programs covering it that are
not over yet, read through the service the API's `GET /demand-response/events` uses, each
described as the plan takes it (the share of flexible EV load a SIMPLE level sheds, a
setpoint's kW, a price)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from ampnexus.domain.demand_response import (
    DEFAULT_LEVEL_CUTS,
    Effect,
    Event,
    EventWindow,
    Interval,
    LevelCuts,
    interval_limit,
)

if TYPE_CHECKING:
    from ampnexus.app import Services

PRICE_WORDS = {
    "price": "price {:g}",
    "priceRelative": "price {:+g}",
    "priceMultiplier": "price x{:g}",
}


@dataclass(frozen=True, slots=True)
class AskedInterval:
    """One interval of an event and what it asks of the site, in words."""

    start: datetime
    end: datetime
    asks: str


@dataclass(frozen=True, slots=True)
class SiteEvent:
    program_id: str
    event_id: str
    signal: str  # as the VTN named it: "SIMPLE level", "LOAD_DISPATCH setpoint"
    intervals: tuple[AskedInterval, ...]
    start: datetime | None
    end: datetime | None
    opt: str
    opt_reason: str
    status: str
    shapes_plans: bool


async def site_events(services: Services, site_id: str) -> list[SiteEvent]:
    """The events of the site not over yet (in force or ahead), by start: cancelled and
    declined ones too, so the operator sees what was asked and what AmpNexus answered."""
    dr = services.demand_response
    now = services.clock.now()
    cuts = {p.id: p.level_cuts for p in await dr.programs()}
    ahead = EventWindow(site_id, ending_after=now)
    return [
        _shown(event, cuts.get(event.program_id, DEFAULT_LEVEL_CUTS))
        for event in await dr.events(where=ahead)
    ]


def _shown(event: Event, cuts: LevelCuts) -> SiteEvent:
    return SiteEvent(
        program_id=event.program_id,
        event_id=event.event_id,
        signal=f"{event.signal_name} {event.signal_type}".strip(),
        intervals=tuple(
            AskedInterval(i.start, i.end, asks(event, i, cuts)) for i in event.intervals
        ),
        start=event.start,
        end=event.end,
        opt=event.opt.value,
        opt_reason=event.opt_reason,
        status=event.status.value,
        shapes_plans=event.shapes_plans,
    )


def asks(event: Event, interval: Interval, cuts: LevelCuts) -> str:
    """What one interval asks, as the plan takes it."""
    value = interval.value
    if event.effect is Effect.PRICE:
        return PRICE_WORDS[event.signal_type].format(value)
    limit = interval_limit(event, value, cuts)
    if event.effect is Effect.LIMIT:
        return f"EV load at most {limit.ev_limit_w / 1000:g} kW"
    if event.effect is Effect.CUT:
        simple = event.signal_name.upper() == "SIMPLE"
        what = f"level {round(value)}" if simple else f"capacity {value * 100:g} %"
        return f"{what}: sheds {limit.cut * 100:g} % of the flexible EV load"
    return f"{value:g} (not acted on)"
