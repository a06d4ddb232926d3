"""Demand response (OpenADR 2.0b): the programs AmpNexus takes part in as a VEN, each
with its VEN's status, and the events their VTNs sent with the effect each has on plans."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field

from ampnexus.api.deps import PagingDep, ServicesDep
from ampnexus.api.models import Page, Strict
from ampnexus.domain.demand_response import (
    DEFAULT_LEVEL_CUTS,
    MAX_POLL_INTERVAL_S,
    MIN_POLL_INTERVAL_S,
    Effect,
    Event,
    EventWindow,
    LevelCuts,
    Program,
    ProgramStatus,
    interval_limit,
)
from ampnexus.domain.errors import Invalid
from ampnexus.domain.time import utc
from ampnexus.grid.signing import check_signing_files

router = APIRouter(prefix="/demand-response", tags=["demand response"])

Id = Annotated[str, Field(min_length=1, max_length=48, pattern=r"^[A-Za-z0-9._\-]+$")]
ProgramId = Annotated[str, Path(min_length=1, max_length=48)]
VtnUrl = Annotated[
    str,
    Field(
        max_length=2048,
        pattern=r"^https?://\S+$",
        examples=["https://vtn.example.com/OpenADR2/Simple/2.0b"],
        description="The VTN's base URL (its services, EiRegisterParty..., are below it)",
    ),
]
VenName = Annotated[str, Field(min_length=1, max_length=255)]
SiteIds = Annotated[list[Id], Field(min_length=1, max_length=1000)]
OptOutSites = Annotated[
    list[Id],
    Field(
        max_length=1000,
        description="Sites of the program that always answer optOut: its events leave them be",
    ),
]
PemPath = Annotated[
    str,
    Field(
        min_length=1,
        max_length=1024,
        description="A PEM file's path on the AmpNexus host (as the TLS files are given)",
    ),
]
Fingerprint = Annotated[
    str,
    Field(
        pattern=r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){9}$",
        examples=["AA:BB:CC:DD:EE:FF:00:11:22:33"],
        description="The OpenADR fingerprint of the VTN's signing certificate: its messages "
        "count only when signed with it",
    ),
]
SIGNING = ("cert_file", "key_file", "ca_file", "vtn_fingerprint")  # null in a PATCH clears


class Signing(Strict):
    """Signed messages (OpenADR 2.0b XML signatures), optional."""

    cert_file: PemPath | None = Field(
        None, description="The VEN's certificate: signs its messages and is its HTTPS client"
    )
    key_file: PemPath | None = Field(None, description="cert_file's private key, unencrypted")
    ca_file: PemPath | None = Field(None, description="The CA of the VTN's HTTPS certificate")
    vtn_fingerprint: Fingerprint | None = None


PollInterval = Annotated[int, Field(ge=MIN_POLL_INTERVAL_S, le=MAX_POLL_INTERVAL_S)]
Cuts = Annotated[
    list[Annotated[float, Field(ge=0, le=100)]],
    Field(
        min_length=4,
        max_length=4,
        description="Per SIMPLE level 0-3, the % of the sites' flexible EV load shed",
    ),
]


class ProgramCreate(Signing):
    id: Id = Field(examples=["utility-flex"])
    vtn_url: VtnUrl
    ven_name: VenName
    site_ids: SiteIds
    poll_interval_s: PollInterval = 10
    opt_out: bool = Field(False, description="Answer optOut to every event of the program")
    opt_out_site_ids: OptOutSites = Field(default_factory=list)
    level_cuts_percent: Cuts = Field(default_factory=lambda: [c * 100 for c in DEFAULT_LEVEL_CUTS])

    def program(self) -> Program:
        return _valid(
            lambda: Program(
                id=self.id,
                vtn_url=self.vtn_url,
                ven_name=self.ven_name,
                site_ids=_unique(self.site_ids),
                poll_interval_s=self.poll_interval_s,
                opt_out=self.opt_out,
                level_cuts=_cuts(self.level_cuts_percent),
                opt_out_site_ids=_unique(self.opt_out_site_ids),
                cert_file=self.cert_file,
                key_file=self.key_file,
                ca_file=self.ca_file,
                vtn_fingerprint=_upper(self.vtn_fingerprint),
            )
        )


class ProgramPatch(Signing):
    vtn_url: VtnUrl | None = None
    ven_name: VenName | None = None
    site_ids: SiteIds | None = None
    poll_interval_s: PollInterval | None = None
    opt_out: bool | None = None
    opt_out_site_ids: OptOutSites | None = None
    level_cuts_percent: Cuts | None = None

    def applied(self, program: Program) -> Program:
        """A site no longer covered leaves the opted-out ones too, unless they are given."""
        fields = self.model_dump(exclude_unset=True)
        if any(v is None for k, v in fields.items() if k not in SIGNING):
            raise Invalid("a field given must have a value (only the signing ones may be null)")
        changes: dict[str, object] = {k: v for k, v in fields.items() if k != "level_cuts_percent"}
        if "site_ids" in changes:
            changes["site_ids"] = sites = _unique(fields["site_ids"])
            kept = tuple(s for s in program.opt_out_site_ids if s in sites)
            changes.setdefault("opt_out_site_ids", kept)
        if "opt_out_site_ids" in fields:
            changes["opt_out_site_ids"] = _unique(fields["opt_out_site_ids"])
        if "level_cuts_percent" in fields:
            changes["level_cuts"] = _cuts(fields["level_cuts_percent"])
        if "vtn_fingerprint" in fields:
            changes["vtn_fingerprint"] = _upper(fields["vtn_fingerprint"])
        return _valid(lambda: replace(program, **changes))  # type: ignore[arg-type]


class StatusOut(BaseModel):
    registered: bool
    ven_id: str | None = Field(description="What the VTN assigned the VEN")
    registration_id: str | None
    last_poll_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None

    @classmethod
    def of(cls, status: ProgramStatus) -> StatusOut:
        return cls(
            registered=status.registered,
            ven_id=status.ven_id,
            registration_id=status.registration_id,
            last_poll_at=status.last_poll_at,
            last_error=status.last_error,
            last_error_at=status.last_error_at,
        )


class ProgramOut(BaseModel):
    id: str
    vtn_url: str
    ven_name: str
    site_ids: list[str]
    poll_interval_s: int
    opt_out: bool
    opt_out_site_ids: list[str]
    level_cuts_percent: list[float]
    cert_file: str | None = Field(description="Paths only: a key's contents are never shown")
    key_file: str | None
    ca_file: str | None
    vtn_fingerprint: str | None
    status: StatusOut

    @classmethod
    def of(cls, program: Program, status: ProgramStatus) -> ProgramOut:
        return cls(
            id=program.id,
            vtn_url=program.vtn_url,
            ven_name=program.ven_name,
            site_ids=list(program.site_ids),
            poll_interval_s=program.poll_interval_s,
            opt_out=program.opt_out,
            opt_out_site_ids=list(program.opt_out_site_ids),
            level_cuts_percent=[round(c * 100, 6) for c in program.level_cuts],
            cert_file=program.cert_file,
            key_file=program.key_file,
            ca_file=program.ca_file,
            vtn_fingerprint=program.vtn_fingerprint,
            status=StatusOut.of(replace(status, ven_id=status.ven_id or program.ven_id)),
        )


class IntervalOut(BaseModel):
    start: datetime
    duration_s: float
    value: float = Field(description="As the VTN sent it (a level, a setpoint, a share)")
    cut_percent: float | None = Field(description="The share of flexible EV load shed")
    ev_limit_kw: float | None = Field(description="The sites' EV load limit")


class SiteOptOut(BaseModel):
    site_id: str
    opt: str = Field(description="What the site answered: optIn or optOut")
    opt_reason: str


class EventOut(BaseModel):
    program_id: str
    event_id: str
    modification_number: int
    status: str
    signal_name: str
    signal_type: str
    effect: Effect = Field(description="cut, limit, or none (recorded only)")
    shapes_plans: bool = Field(description="Opted in, not cancelled, and acted on")
    opt: str = Field(description="optIn or optOut, as answered to the VTN")
    opt_reason: str
    site_ids: list[str] = Field(description="The program's sites the event targets")
    sites: list[SiteOptOut] = Field(
        description="Per targeted site, its own answer: optOut where it opted out alone (the "
        "VTN hears optIn while any site takes part)"
    )
    start: datetime | None
    end: datetime | None
    received_at: datetime
    intervals: list[IntervalOut]

    @classmethod
    def of(cls, event: Event, cuts: LevelCuts) -> EventOut:
        return cls(
            program_id=event.program_id,
            event_id=event.event_id,
            modification_number=event.modification_number,
            status=event.status.value,
            signal_name=event.signal_name,
            signal_type=event.signal_type,
            effect=event.effect,
            shapes_plans=event.shapes_plans,
            opt=event.opt.value,
            opt_reason=event.opt_reason,
            site_ids=list(event.site_ids),
            sites=[_site_opt(event, site) for site in event.site_ids],
            start=event.start,
            end=event.end,
            received_at=event.received_at,
            intervals=[
                _interval(event, i.start, i.duration.total_seconds(), i.value, cuts)
                for i in event.intervals
            ],
        )


def _interval(
    event: Event, start: datetime, seconds: float, value: float, cuts: LevelCuts
) -> IntervalOut:
    limit = interval_limit(event, value, cuts)
    return IntervalOut(
        start=start,
        duration_s=seconds,
        value=value,
        cut_percent=round(limit.cut * 100, 3) if event.effect is Effect.CUT else None,
        ev_limit_kw=limit.ev_limit_w / 1000 if event.effect is Effect.LIMIT else None,
    )


def _site_opt(event: Event, site_id: str) -> SiteOptOut:
    opt, reason = event.site_opt(site_id)
    return SiteOptOut(site_id=site_id, opt=opt.value, opt_reason=reason)


def _valid(make: Callable[[], Program]) -> Program:
    """The program, or Invalid (422) with what is wrong with it, its signing files too."""
    try:
        program = make()
        check_signing_files(program)
        return program
    except ValueError as error:
        raise Invalid(str(error)) from error


def _upper(fingerprint: str | None) -> str | None:
    return fingerprint.upper() if fingerprint else None


def _unique(site_ids: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(site_ids))


def _cuts(percent: list[float]) -> LevelCuts:
    a, b, c, d = (p / 100 for p in percent)
    return (a, b, c, d)


@router.post("/programs", status_code=201, response_model=ProgramOut)
async def create_program(body: ProgramCreate, services: ServicesDep) -> ProgramOut:
    """Its VEN registers with the VTN at once and then polls it; the status tells how."""
    dr = services.demand_response
    program = await dr.create(body.program())
    return ProgramOut.of(program, dr.status(program.id))


@router.get("/programs", response_model=list[ProgramOut])
async def list_programs(services: ServicesDep) -> list[ProgramOut]:
    dr = services.demand_response
    return [ProgramOut.of(p, dr.status(p.id)) for p in await dr.programs()]


@router.get("/programs/{program_id}", response_model=ProgramOut)
async def show_program(program_id: ProgramId, services: ServicesDep) -> ProgramOut:
    dr = services.demand_response
    return ProgramOut.of(await dr.get(program_id), dr.status(program_id))


@router.patch("/programs/{program_id}", response_model=ProgramOut)
async def change_program(
    program_id: ProgramId, body: ProgramPatch, services: ServicesDep
) -> ProgramOut:
    """The fields given change; the VEN re-registers when its VTN, name, interval or sites
    changed; the sites covered before and after are replanned. `opt_out_site_ids` applies to
    events received from then on (each modification is answered again)."""
    dr = services.demand_response
    program = await dr.update(body.applied(await dr.get(program_id)))
    return ProgramOut.of(program, dr.status(program_id))


@router.delete("/programs/{program_id}", status_code=204)
async def delete_program(program_id: ProgramId, services: ServicesDep) -> Response:
    """Stops its VEN; its events go with it and its sites are replanned without them."""
    await services.demand_response.delete(program_id)
    return Response(status_code=204)


@router.get("/events", response_model=Page[EventOut])
async def list_events(
    services: ServicesDep,
    paging: PagingDep,
    program_id: Annotated[str | None, Query(max_length=48)] = None,
    site_id: Annotated[str | None, Query(max_length=255, description="Targeting this site")] = None,
    since: Annotated[
        datetime | None, Query(description="Ending after this (no offset: UTC)")
    ] = None,
    until: Annotated[
        datetime | None, Query(description="Starting before this (no offset: UTC)")
    ] = None,
) -> Page[EventOut]:
    """The events received, each as of its newest modification, by start. `since=now`
    lists those in force or ahead."""
    dr = services.demand_response
    cuts = {p.id: p.level_cuts for p in await dr.programs()}
    window = EventWindow(
        site_id, None if since is None else utc(since), None if until is None else utc(until)
    )
    found = await dr.events(program_id, window)
    shown = found[paging.offset : paging.offset + paging.limit]
    return Page(
        items=[EventOut.of(e, cuts.get(e.program_id, DEFAULT_LEVEL_CUTS)) for e in shown],
        total=len(found),
        limit=paging.limit,
        offset=paging.offset,
    )
