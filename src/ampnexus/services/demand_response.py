"""Demand response: the programs AmpNexus takes part in, the events their VTNs send, the
answer to each (opt in or out, and why), and the limits they put on each site's plan.

The VENs themselves (`grid/openadr.py`) live behind `Vens`; they hand each event they
receive to `received`, which decides the answer, stores the event and publishes
`DemandResponseChanged` so smart charging replans the sites it covers. Smart charging
reads the limits back through `site_limits` (the `DemandResponseLimits` planning port).
Events in force are kept in memory (read once at start): a replan costs no query."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from ampnexus.domain.demand_response import (
    ALL_EVENTS,
    DelaySpan,
    Effect,
    Event,
    EventWindow,
    LevelCuts,
    OptState,
    Program,
    ProgramStatus,
    SlotLimit,
    SlotPrice,
    delay_exempt,
    latest,
    site_limits,
    site_prices,
)
from ampnexus.domain.errors import Invalid, NotFound
from ampnexus.domain.events import (
    DemandResponseChanged,
    DemandResponseEventEnded,
    DemandResponseEventReceived,
)
from ampnexus.domain.time import Clock
from ampnexus.services.ports import DemandResponseStore, EventPublisher

log = logging.getLogger("ampnexus.demand_response")

OPT_IN_REASON = "participating"
OPT_OUT_CONFIGURED = "notParticipating"  # the program is set to opt out
OPT_OUT_UNSUPPORTED = "x-signal-not-supported"  # a signal AmpNexus does not act on
OPT_OUT_PREMIUM = "x-premium-driver-short"  # meeting it would leave a premium driver short
PREMIUM_SHORT_WH = 100.0  # less than this is the planner's rounding, not a driver short


class EventSink(Protocol):
    """What a VEN tells the service."""

    async def received(self, event: Event) -> OptState:
        """A new or modified event; the answer to send the VTN."""
        ...

    async def registered(self, program_id: str, ven_id: str | None) -> None: ...

    def opted_out(self, program_id: str, event_id: str) -> tuple[tuple[str, str], ...]:
        """The targeted sites that opted out of an event answered optIn, and why."""
        ...

    def ev_load_w(self, site_id: str) -> float:
        """The site's EV load now, for TELEMETRY_USAGE reports."""
        ...


class Vens(Protocol):
    """The running VENs, one per program (`grid/openadr.py`)."""

    async def start(self, program: Program, sink: EventSink) -> None:
        """Register and poll in the background (a program already running is restarted)."""
        ...

    async def stop(self, program_id: str) -> None: ...

    async def stop_all(self) -> None: ...

    def status(self, program_id: str) -> ProgramStatus: ...


class SiteEvLoad(Protocol):
    """What smart charging tells of a site (`SmartChargingService`)."""

    def site_ev_power_w(self, site_id: str) -> float: ...

    async def premium_shortfall_wh(self, site_id: str, event: Event, cuts: LevelCuts) -> float:
        """What the site's premium sessions would lack under the event, beyond what they
        lack without it."""
        ...


class SiteExists(Protocol):
    async def get(self, site_id: str) -> object:
        """NotFound for an unknown site."""
        ...


class DemandResponseService:
    def __init__(
        self,
        store: DemandResponseStore,
        vens: Vens,
        sites: SiteExists,
        clock: Clock,
        events: EventPublisher,
    ) -> None:
        self._store = store
        self._vens = vens
        self._sites = sites
        self._clock = clock
        self._events = events
        self._programs: dict[str, Program] = {}
        self._in_force: dict[tuple[str, str], Event] = {}  # events not yet over
        self._lock = asyncio.Lock()  # program changes one at a time
        self._load: SiteEvLoad | None = None  # set by attach_load (smart charging knows it)
        # Per event, the replan at its start and grid.event_ended at its end.
        self._timers: dict[tuple[str, str], list[asyncio.TimerHandle]] = {}

    def attach_load(self, load: SiteEvLoad) -> None:
        """What the sites' EVs draw, for the VENs' reports (built after this service)."""
        self._load = load

    # --- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        """Resume every stored program: its VEN registers again as the same VEN id."""
        now = self._clock.now()
        for event in await self._store.events(ending_after=now):
            self._in_force[(event.program_id, event.event_id)] = event
            self._time(event)
        for program in await self._store.programs():
            self._programs[program.id] = program
            await self._vens.start(program, self)

    async def stop(self) -> None:
        await self._vens.stop_all()
        for handles in self._timers.values():
            for handle in handles:
                handle.cancel()
        self._timers.clear()

    # --- programs --------------------------------------------------------------------------
    async def create(self, program: Program) -> Program:
        await self._check_sites(program.site_ids)
        async with self._lock:
            await self._store.add_program(program, self._clock.now())
            self._programs[program.id] = program
            await self._vens.start(program, self)
        return program

    async def update(self, program: Program) -> Program:
        """Replaces the program's settings; its VEN restarts when what it registers, polls,
        targets or reports with changed, and its sites are replanned. The VEN id is kept
        for the same VTN: one VTN's id means nothing to another."""
        await self._check_sites(program.site_ids)
        async with self._lock:
            old = await self.get(program.id)
            same_vtn = old.vtn_url == program.vtn_url
            program = replace(program, ven_id=old.ven_id if same_vtn else None)
            await self._store.update_program(program, self._clock.now())
            self._programs[program.id] = program
            if _ven_settings(old) != _ven_settings(program):
                await self._vens.start(program, self)
        self._publish(program.id, None, set(old.site_ids) | set(program.site_ids))
        return program

    async def delete(self, program_id: str) -> None:
        async with self._lock:
            program = await self.get(program_id)
            await self._vens.stop(program_id)
            await self._store.delete_program(program_id)
            self._programs.pop(program_id, None)
            for key in [k for k in self._in_force if k[0] == program_id]:
                del self._in_force[key]
            for key in [k for k in self._timers if k[0] == program_id]:
                for handle in self._timers.pop(key):
                    handle.cancel()
        self._publish(program_id, None, set(program.site_ids))

    async def get(self, program_id: str) -> Program:
        program = self._programs.get(program_id) or await self._store.program(program_id)
        if program is None:
            raise NotFound(f"no demand-response program {program_id!r}")
        return program

    async def programs(self) -> list[Program]:
        return await self._store.programs()

    def status(self, program_id: str) -> ProgramStatus:
        return self._vens.status(program_id)

    async def events(
        self, program_id: str | None = None, where: EventWindow = ALL_EVENTS
    ) -> list[Event]:
        """The events received, by start, each as of its newest modification."""
        found = await self._store.events(where.ending_after, program_id, where.starting_before)
        site = where.site_id
        return found if site is None else [e for e in found if site in e.site_ids]

    async def _check_sites(self, site_ids: Sequence[str]) -> None:
        for site_id in site_ids:
            try:
                await self._sites.get(site_id)
            except NotFound as error:
                raise Invalid(f"no site {site_id!r}") from error

    # --- what the VENs report (EventSink) --------------------------------------------------
    async def received(self, event: Event) -> OptState:
        """Opt in by default; out when the program says so, or when the signal is one
        AmpNexus cannot act on (opting in would promise a reduction it will not make).
        Each targeted site may opt out alone: when the program lists it as always out, or
        when meeting a limit would leave a plugged-in premium driver there short of their
        need (what premium promises them). The VTN hears optIn while any targeted site takes
        part (OpenADR answers per event), optOut when none does. Each modification is
        decided again."""
        program = await self.get(event.program_id)
        opt, reason = _decide(program, event)
        opted_out: tuple[tuple[str, str], ...] = ()
        if opt is OptState.IN:
            opted_out = await self._sites_out(program, event)
            if opted_out and len(opted_out) == len(event.site_ids):  # none takes part
                opt, reason, opted_out = OptState.OUT, opted_out[0][1], ()
        event = replace(
            event, opt=opt, opt_reason=reason, opted_out=opted_out, received_at=self._clock.now()
        )
        public = _received(event)
        if not await self._store.put_event(event, lambda stored: [public] if stored else []):
            return opt  # an older modification than the one stored: nothing changes
        self._keep(event)
        self._time(event)
        self._events.publish(public)
        log.info(
            "program %s: event %s (modification %d, %s) %s",
            *(event.program_id, event.event_id, event.modification_number, event.status),
            opt,
        )
        self._publish(event.program_id, event.event_id, set(event.site_ids))
        return opt

    async def _sites_out(self, program: Program, event: Event) -> tuple[tuple[str, str], ...]:
        """The targeted sites that opt out alone, and why: those the program lists, then
        those whose premium drivers the event would leave short."""
        out = [(s, OPT_OUT_CONFIGURED) for s in event.site_ids if s in program.opt_out_site_ids]
        for site_id in (s for s in event.site_ids if s not in program.opt_out_site_ids):
            if await self._premium_short(program, event, site_id):
                out.append((site_id, OPT_OUT_PREMIUM))
        return tuple(sorted(out, key=lambda pair: event.site_ids.index(pair[0])))

    async def _premium_short(self, program: Program, event: Event, site_id: str) -> bool:
        """A limit in force that the site's premium sessions could not keep to. A site
        that cannot be planned now is taken as able to (its plan keeps to the event)."""
        if self._load is None or not event.shapes_plans or event.effect is Effect.PRICE:
            return False
        try:
            short = await self._load.premium_shortfall_wh(site_id, event, program.level_cuts)
        except Exception:
            log.exception("site %s: could not plan it under event %s", site_id, event.event_id)
            return False
        if short < PREMIUM_SHORT_WH:
            return False
        log.info(
            "site %s: event %s leaves premium drivers %.0f Wh short",
            site_id,
            event.event_id,
            short,
        )
        return True

    async def registered(self, program_id: str, ven_id: str | None) -> None:
        program = self._programs.get(program_id)
        if program is None or program.ven_id == ven_id:
            return
        self._programs[program_id] = replace(program, ven_id=ven_id)
        await self._store.set_ven_id(program_id, ven_id)

    def opted_out(self, program_id: str, event_id: str) -> tuple[tuple[str, str], ...]:
        event = self._in_force.get((program_id, event_id))
        return () if event is None or event.opt is OptState.OUT else event.opted_out

    def ev_load_w(self, site_id: str) -> float:
        return self._load.site_ev_power_w(site_id) if self._load else 0.0

    # --- what plans keep to (DemandResponseLimits) -----------------------------------------
    def site_limits(
        self, site_id: str, starts: Sequence[datetime], ends: Sequence[datetime]
    ) -> tuple[SlotLimit, ...]:
        """Per slot, what the events in force ask of the site's EV load."""
        if not self._in_force:
            return ()
        self._forget_ended(starts[0] if starts else self._clock.now())
        cuts: dict[str, LevelCuts] = {p.id: p.level_cuts for p in self._programs.values()}
        return site_limits(self._in_force.values(), site_id, starts, ends, cuts)

    def site_prices(
        self, site_id: str, starts: Sequence[datetime], ends: Sequence[datetime]
    ) -> tuple[SlotPrice | None, ...]:
        """Per slot, the price event's word on the site's import price."""
        if not self._in_force:
            return ()
        return site_prices(self._in_force.values(), site_id, starts, ends)

    def delay_exempt(self, site_id: str) -> tuple[DelaySpan, ...]:
        """When the site provides demand response: its regulation-mode chargers apply no
        random delay then (`domain.demand_response.delay_exempt`)."""
        if not self._in_force:
            return ()
        return delay_exempt(self._in_force.values(), site_id)

    def _keep(self, event: Event) -> None:
        key = (event.program_id, event.event_id)
        kept = self._in_force.get(key)
        self._in_force[key] = latest([kept, event])[0] if kept else event

    def _time(self, event: Event) -> None:
        """Replan the event's sites where it starts, and announce its end where it ends
        (grid.event_ended, with a replan): a regulation charger's fail-safe holds no start
        delay while its site provides demand response, and holds it again after (ADR 0012).
        A later modification moves both, a cancellation or opt-out drops them. Timed in
        this process: an end passed while AmpNexus was down is not announced."""
        key = (event.program_id, event.event_id)
        for handle in self._timers.pop(key, ()):
            handle.cancel()
        start, end = event.start, event.end
        if not event.shapes_plans or end is None:
            return
        now = self._clock.now()
        loop = asyncio.get_running_loop()
        handles = []
        if start is not None and start > now:
            sites = set(event.participating)
            handles.append(
                loop.call_later(
                    (start - now).total_seconds(),
                    self._publish,
                    *(event.program_id, event.event_id, sites),
                )
            )
        ended = DemandResponseEventEnded(event.program_id, event.event_id, event.participating, end)
        delay = max((end - now).total_seconds(), 0.0)
        handles.append(loop.call_later(delay, self._ended, key, ended))
        self._timers[key] = handles

    def _ended(self, key: tuple[str, str], ended: DemandResponseEventEnded) -> None:
        self._timers.pop(key, None)
        self._events.publish(ended)
        self._publish(ended.program_id, ended.event_id, set(ended.site_ids))

    def _forget_ended(self, now: datetime) -> None:
        for key, event in list(self._in_force.items()):
            end = event.end
            if end is None or end <= now:
                del self._in_force[key]

    def _publish(self, program_id: str, event_id: str | None, site_ids: set[str]) -> None:
        at = self._clock.now()
        self._events.publish(
            DemandResponseChanged(program_id, event_id, tuple(sorted(site_ids)), at)
        )


def _ven_settings(program: Program) -> tuple[object, ...]:
    """What a running VEN was started with (the SIMPLE cuts are read here, not there)."""
    signing = (program.cert_file, program.key_file, program.ca_file, program.vtn_fingerprint)
    return (program.vtn_url, program.ven_name, program.poll_interval_s, program.site_ids, signing)


def _received(event: Event) -> DemandResponseEventReceived:
    return DemandResponseEventReceived(
        program_id=event.program_id,
        event_id=event.event_id,
        modification_number=event.modification_number,
        status=event.status.value,
        signal_name=event.signal_name,
        signal_type=event.signal_type,
        effect=event.effect.value,
        opt=event.opt.value,
        opt_reason=event.opt_reason,
        site_ids=event.site_ids,
        start=event.start,
        end=event.end,
        at=event.received_at,
        opted_out=event.opted_out,
    )


def _decide(program: Program, event: Event) -> tuple[OptState, str]:
    if program.opt_out:
        return OptState.OUT, OPT_OUT_CONFIGURED
    if event.effect is Effect.NONE:
        return OptState.OUT, OPT_OUT_UNSUPPORTED
    return OptState.IN, OPT_IN_REASON
