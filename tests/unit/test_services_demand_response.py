"""DemandResponseService on in-memory fakes: the answer to each event, modifications in any
order, what replans, and programs that resume with their VEN id."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from ampnexus.domain.demand_response import (
    Event,
    EventStatus,
    Interval,
    LevelCuts,
    OptState,
    Program,
    ProgramStatus,
)
from ampnexus.domain.errors import Conflict, Invalid, NotFound
from ampnexus.domain.events import DemandResponseChanged, DemandResponseEventEnded
from ampnexus.services.demand_response import DemandResponseService, EventSink
from tests.fakes.clock import START, FakeClock
from tests.fakes.events import RecordedEvents

SLOT = timedelta(minutes=15)
PROGRAM = Program("P1", "http://vtn", "depot-ven", ("S1",), poll_interval_s=5)


class MemoryStore:
    def __init__(self) -> None:
        self.programs_by_id: dict[str, Program] = {}
        self.events_by_key: dict[tuple[str, str], Event] = {}

    async def add_program(self, program: Program, at: datetime) -> None:
        if program.id in self.programs_by_id:
            raise Conflict(program.id)
        self.programs_by_id[program.id] = program

    async def update_program(self, program: Program, at: datetime) -> None:
        if program.id not in self.programs_by_id:
            raise NotFound(program.id)
        self.programs_by_id[program.id] = program

    async def delete_program(self, program_id: str) -> bool:
        self.events_by_key = {k: e for k, e in self.events_by_key.items() if k[0] != program_id}
        return self.programs_by_id.pop(program_id, None) is not None

    async def program(self, program_id: str) -> Program | None:
        return self.programs_by_id.get(program_id)

    async def programs(self) -> list[Program]:
        return sorted(self.programs_by_id.values(), key=lambda p: p.id)

    async def set_ven_id(self, program_id: str, ven_id: str | None) -> None:
        self.programs_by_id[program_id] = replace(self.programs_by_id[program_id], ven_id=ven_id)

    async def put_event(
        self, event: Event, announce: Callable[[bool], Sequence[object]] | None = None
    ) -> bool:
        kept = self.events_by_key.get((event.program_id, event.event_id))
        if kept is not None and kept.modification_number > event.modification_number:
            return False
        self.events_by_key[(event.program_id, event.event_id)] = event
        return True

    async def events(
        self,
        ending_after: datetime | None = None,
        program_id: str | None = None,
        starting_before: datetime | None = None,
    ) -> list[Event]:
        return [
            e
            for e in self.events_by_key.values()
            if (ending_after is None or (e.end is not None and e.end > ending_after))
            and (starting_before is None or (e.start is not None and e.start < starting_before))
            and (program_id is None or e.program_id == program_id)
        ]


class RecordedVens:
    def __init__(self) -> None:
        self.running: dict[str, Program] = {}
        self.starts = 0

    async def start(self, program: Program, sink: EventSink) -> None:
        self.running[program.id] = program
        self.starts += 1

    async def stop(self, program_id: str) -> None:
        self.running.pop(program_id, None)

    async def stop_all(self) -> None:
        self.running.clear()

    def status(self, program_id: str) -> ProgramStatus:
        return ProgramStatus(registered=program_id in self.running)


class Sites:
    async def get(self, site_id: str) -> object:
        if site_id not in ("S1", "S2"):
            raise NotFound(site_id)
        return site_id


def event(name: str = "SIMPLE", kind: str = "level", value: float = 2, **changes: object) -> Event:
    base = Event(
        program_id="P1",
        event_id="E1",
        modification_number=0,
        status=EventStatus.FAR,
        signal_name=name,
        signal_type=kind,
        intervals=(Interval(START + SLOT, 2 * SLOT, value),),
        site_ids=("S1",),
        opt=OptState.IN,
        opt_reason="",
        received_at=START,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


Parts = tuple[DemandResponseService, MemoryStore, RecordedVens, RecordedEvents]


@pytest.fixture
def parts() -> Parts:
    store, vens, events = MemoryStore(), RecordedVens(), RecordedEvents()
    service = DemandResponseService(store, vens, Sites(), FakeClock(), events)
    return service, store, vens, events


def slots(count: int = 4) -> tuple[list[datetime], list[datetime]]:
    starts = [START + i * SLOT for i in range(count)]
    return starts, [s + SLOT for s in starts]


async def test_an_event_is_opted_into_stored_and_replans_its_sites(parts: Parts) -> None:
    service, store, vens, events = parts
    await service.create(PROGRAM)
    assert "P1" in vens.running
    assert await service.received(event()) is OptState.IN
    (stored,) = await store.events()
    assert (stored.opt, stored.opt_reason) == (OptState.IN, "participating")
    assert events.of(DemandResponseChanged)[-1].site_ids == ("S1",)
    assert [s.cut for s in service.site_limits("S1", *slots())] == [0.0, 0.6, 0.6, 0.0]


async def test_a_program_set_to_opt_out_and_an_unsupported_signal_opt_out(parts: Parts) -> None:
    service, store, _, _ = parts
    await service.create(replace(PROGRAM, opt_out=True))
    assert await service.received(event()) is OptState.OUT
    assert (await store.events())[0].opt_reason == "notParticipating"
    await service.update(PROGRAM)
    delta = event("LOAD_DISPATCH", "delta", -3, event_id="E2")
    assert await service.received(delta) is OptState.OUT
    assert (await store.events(program_id="P1"))[-1].opt_reason == "x-signal-not-supported"
    assert not any(s.binds for s in service.site_limits("S1", *slots()))


async def test_a_late_older_modification_changes_nothing(parts: Parts) -> None:
    service, _, _, events = parts
    await service.create(PROGRAM)
    await service.received(event(status=EventStatus.CANCELLED, modification_number=1))
    published = len(events.published)
    await service.received(event(modification_number=0))
    assert len(events.published) == published
    assert not any(s.binds for s in service.site_limits("S1", *slots()))


async def test_programs_resume_with_their_ven_id_and_events_in_force(parts: Parts) -> None:
    service, store, _, events = parts
    await service.create(PROGRAM)
    await service.registered("P1", "ven-7")
    await service.received(event())
    again = DemandResponseService(store, RecordedVens(), Sites(), FakeClock(), events)
    await again.start()
    assert (await again.get("P1")).ven_id == "ven-7"
    assert [s.cut for s in again.site_limits("S1", *slots())] == [0.0, 0.6, 0.6, 0.0]


async def test_a_new_vtn_forgets_the_ven_id_and_a_deleted_program_its_events(parts: Parts) -> None:
    service, store, vens, events = parts
    await service.create(PROGRAM)
    await service.registered("P1", "ven-7")
    await service.received(event())
    moved = await service.update(replace(PROGRAM, vtn_url="http://other-vtn"))
    assert moved.ven_id is None and vens.starts == 2
    await service.delete("P1")
    assert "P1" not in vens.running and await store.events() == []
    assert not any(s.binds for s in service.site_limits("S1", *slots()))
    assert events.of(DemandResponseChanged)[-1].event_id is None


async def test_unknown_sites_and_programs_are_refused(parts: Parts) -> None:
    service, _, _, _ = parts
    with pytest.raises(Invalid):
        await service.create(replace(PROGRAM, site_ids=("nowhere",)))
    with pytest.raises(NotFound):
        await service.get("P9")


async def test_a_price_event_is_opted_into_and_prices_its_slots(parts: Parts) -> None:
    service, _, _, _ = parts
    await service.create(PROGRAM)
    price = event("ELECTRICITY_PRICE", "price", 0.45)
    assert await service.received(price) is OptState.IN
    assert not any(s.binds for s in service.site_limits("S1", *slots()))
    got = service.site_prices("S1", *slots())
    assert [p.applied(0.2) if p else None for p in got] == [None, 0.45, 0.45, None]


class ShortLoad:
    """Smart charging as the service asks it: premium sessions short by `short_wh`."""

    def __init__(self, short_wh: float) -> None:
        self.short_wh = short_wh
        self.asked: list[str] = []

    def site_ev_power_w(self, site_id: str) -> float:
        return 0.0

    async def premium_shortfall_wh(self, site_id: str, event: Event, cuts: LevelCuts) -> float:
        self.asked.append(site_id)
        return self.short_wh


async def test_an_event_that_would_leave_a_premium_driver_short_is_opted_out(
    parts: Parts,
) -> None:
    service, store, _, _ = parts
    await service.create(PROGRAM)
    service.attach_load(ShortLoad(5_000.0))
    assert await service.received(event()) is OptState.OUT
    assert (await store.events())[0].opt_reason == "x-premium-driver-short"
    assert not any(s.binds for s in service.site_limits("S1", *slots()))
    service.attach_load(ShortLoad(50.0))  # within the planner's rounding
    assert await service.received(event(modification_number=1)) is OptState.IN


class ShortAt(ShortLoad):
    """Premium sessions short at one site only."""

    def __init__(self, site_id: str) -> None:
        super().__init__(5_000.0)
        self.site_id = site_id

    async def premium_shortfall_wh(self, site_id: str, event: Event, cuts: LevelCuts) -> float:
        return self.short_wh if site_id == self.site_id else 0.0


async def test_sites_opt_out_alone_and_the_event_is_opted_into_while_one_takes_part(
    parts: Parts,
) -> None:
    service, store, _, _ = parts
    both = replace(PROGRAM, site_ids=("S1", "S2"), opt_out_site_ids=("S2",))
    await service.create(both)
    assert await service.received(event(site_ids=("S1", "S2"))) is OptState.IN
    (stored,) = await store.events()
    assert stored.opted_out == (("S2", "notParticipating"),)
    assert any(s.binds for s in service.site_limits("S1", *slots()))
    assert not any(s.binds for s in service.site_limits("S2", *slots()))
    # S1's premium drivers would be short: no site takes part, the VTN hears optOut.
    service.attach_load(ShortAt("S1"))
    later = event(site_ids=("S1", "S2"), modification_number=1)
    assert await service.received(later) is OptState.OUT
    (stored,) = await store.events()
    assert (stored.opt_reason, stored.opted_out) == ("x-premium-driver-short", ())  # S1 first
    assert not any(s.binds for s in service.site_limits("S1", *slots()))


async def test_an_event_replans_its_sites_where_it_starts_and_where_it_ends(parts: Parts) -> None:
    """At its start a regulation charger's fail-safe drops its start delay, at its end it
    holds one again: both need a replan then, not at the next periodic one. (The timers run
    on the event loop's real time, measured from the clock's now.)"""
    service, _, _, events = parts
    await service.create(PROGRAM)
    soon = event(intervals=(Interval(START + timedelta(seconds=0.2), SLOT / 900, 2),))
    await service.received(soon)
    replans = len(events.of(DemandResponseChanged))
    await asyncio.sleep(0.1)
    assert len(events.of(DemandResponseChanged)) == replans
    await asyncio.sleep(0.2)  # past its start (0.2 s)
    assert len(events.of(DemandResponseChanged)) == replans + 1
    assert events.of(DemandResponseEventEnded) == []
    await asyncio.sleep(1.2)  # past its end (1.2 s)
    assert len(events.of(DemandResponseChanged)) == replans + 2
    (ended,) = events.of(DemandResponseEventEnded)
    assert ended.site_ids == ("S1",)


async def test_a_cancelled_event_replans_nothing_at_its_old_start(parts: Parts) -> None:
    service, _, _, events = parts
    await service.create(PROGRAM)
    soon = event(intervals=(Interval(START + timedelta(seconds=0.1), SLOT / 900, 2),))
    await service.received(soon)
    await service.received(replace(soon, modification_number=1, status=EventStatus.CANCELLED))
    replans = len(events.of(DemandResponseChanged))
    await asyncio.sleep(1.3)
    assert len(events.of(DemandResponseChanged)) == replans
    assert events.of(DemandResponseEventEnded) == []
