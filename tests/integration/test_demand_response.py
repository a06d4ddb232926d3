"""Demand response against a real OpenADR 2.0b VTN (openleadr's OpenADRServer on localhost):
a program created through the API registers its VEN; SIMPLE and LOAD_DISPATCH events
reshape a charging site's plan and its charger's TxProfile during their slots; a cancelled
event lifts the limit; a price event moves charging to its cheap slots; an opted-out
program's events shape nothing; the VTN receives each site's EV load as telemetry; programs
resume after a restart, as the same VEN.

The timed replan is an hour away: only the events themselves can reshape the plan."""

from __future__ import annotations

import json
import math
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiohttp import web
from openleadr import OpenADRServer, objects
from openleadr.messaging import create_message, parse_message

from ampnexus.app import AmpNexus
from tests.conftest import test_settings as settings_for
from tests.integration.test_smart_charging import (
    PHASES,
    VOLTAGE,
    eventually,
    profiles,
    start_charging,
)
from tests.support.charger import TestCharger, charger
from tests.support.server import api_client, running

pytestmark = [
    pytest.mark.settings(replan_interval=3600.0),
    # openleadr's VTN keys its aiohttp app by string: aiohttp's advice, not our concern.
    pytest.mark.filterwarnings("ignore:It is recommended to use web.AppKey"),
]

SITE = "S1"
VEN_ID = "ven-ampnexus"
CHARGER_KW = 11.0
SLOT = timedelta(minutes=15)  # the plan's slot (plan_slot_seconds' default)
EVENT_S = 20.0  # generous: a poll a second, a replan a fraction of one


@dataclass
class Vtn:
    server: OpenADRServer
    url: str
    registrations: list[dict[str, Any]] = field(default_factory=list)
    opts: dict[str, str] = field(default_factory=dict)  # event id -> the VEN's last answer
    reported: dict[str, list[float]] = field(default_factory=dict)  # resource id -> W values
    offered: list[dict[str, Any]] = field(default_factory=list)  # report descriptions
    opted_out: list[dict[str, Any]] = field(default_factory=list)  # oadrCreateOpt received

    def add(self, signal_name: str, signal_type: str, value: float, start: datetime) -> str:
        interval = objects.Interval(dtstart=start, duration=2 * SLOT, signal_payload=value)
        return str(
            self.server.add_event(
                VEN_ID, signal_name, signal_type, [interval], callback=self._opted
            )
        )

    def add_prices(self, steps: list[tuple[datetime, int, float]]) -> str:
        """An ELECTRICITY_PRICE event: (start, slots, price per kWh) per interval."""
        intervals = [
            objects.Interval(dtstart=start, duration=count * SLOT, signal_payload=price)
            for start, count, price in steps
        ]
        return str(
            self.server.add_event(
                VEN_ID, "ELECTRICITY_PRICE", "price", intervals, callback=self._opted
            )
        )

    def _opted(self, ven_id: str, event_id: str, opt_type: str) -> None:
        self.opts[event_id] = opt_type


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def vtn() -> AsyncIterator[Vtn]:
    port = free_port()
    server = OpenADRServer(
        vtn_id="TEST-VTN",
        http_port=port,
        http_host="127.0.0.1",
        requested_poll_freq=timedelta(seconds=30),  # the program's own interval rules
    )
    found = Vtn(server, f"http://127.0.0.1:{port}/OpenADR2/Simple/2.0b")

    async def register(info: dict[str, Any]) -> tuple[str, str]:
        found.registrations.append(info)
        return VEN_ID, f"reg-{len(found.registrations)}"

    server.add_handler("on_create_party_registration", register)

    async def offer(
        ven_id: str,
        resource_id: str,
        measurement: str,
        unit: str,
        scale: str,
        min_sampling_interval: timedelta,
        max_sampling_interval: timedelta,
    ) -> tuple[Any, timedelta]:
        found.offered.append({"resource_id": resource_id, "measurement": measurement, "unit": unit})

        async def receive(data: list[tuple[datetime, float]]) -> None:
            found.reported.setdefault(resource_id, []).extend(value for _, value in data)

        return receive, timedelta(seconds=1)

    server.add_handler("on_register_report", offer)

    async def create_opt(request: web.Request) -> web.Response:
        """EiOpt, which openleadr's VTN does not serve: each oadrCreateOpt kept."""
        _, payload = parse_message(await request.read())
        found.opted_out.append(payload)
        response = {"response_code": 200, "response_description": "OK", "request_id": None}
        reply = create_message("oadrCreatedOpt", response=response, opt_id=payload["opt_id"])
        return web.Response(text=reply, content_type="application/xml")

    server.app.router.add_post("/OpenADR2/Simple/2.0b/EiOpt", create_opt)
    await server.run()
    try:
        yield found
    finally:
        await server.stop()


@pytest.fixture
async def site(api: httpx.AsyncClient) -> str:
    """A 22 kW site with one 11 kW charger; every session wants 80 kWh within four hours,
    more than the charger gives, so the plan charges at full power wherever it may."""
    departure = (datetime.now(UTC) + timedelta(hours=4)).time().isoformat(timespec="seconds")
    body = {
        "id": SITE,
        "name": "Depot",
        "time_zone": "UTC",
        "grid_limit_kw": 22.0,
        "default_energy_kwh": 80,
        "default_departure": departure,
    }
    assert (await api.post("/sites", json=body)).status_code == 201
    created = await api.post("/charge-points", json={"id": "CP-A", "security_profile": 0})
    assert created.status_code == 201, created.text
    placement = {"site_id": SITE, "phases": PHASES, "max_power_w": CHARGER_KW * 1000}
    assert (await api.put("/charge-points/CP-A", json=placement)).status_code == 200
    assert (await api.post("/id-tags", json={"id_tag": "TAG"})).status_code == 201
    return SITE


async def program(api: httpx.AsyncClient, vtn: Vtn, **changes: Any) -> dict[str, Any]:
    body = {
        "id": "flex",
        "vtn_url": vtn.url,
        "ven_name": "ampnexus-depot",
        "site_ids": [SITE],
        "poll_interval_s": 1,
        **changes,
    }
    created = await api.post("/demand-response/programs", json=body)
    assert created.status_code == 201, created.text

    async def registered() -> dict[str, Any] | None:
        shown = (await api.get("/demand-response/programs/flex")).json()
        return shown if shown["status"]["registered"] else None

    return await eventually(registered, within=EVENT_S)


def next_slot(after: timedelta = SLOT) -> datetime:
    """A slot boundary at least `after` from now: the event's slots are whole plan slots."""
    now = datetime.now(UTC)
    start = now + after
    return start - timedelta(seconds=start.timestamp() % SLOT.total_seconds())


async def plan_slots(api: httpx.AsyncClient, start: datetime) -> list[tuple[float, float]]:
    """(cap kW, the session's planned kW) for the event's two slots and the one before
    ([] while the plan holds no session yet)."""
    plan = (await api.get(f"/sites/{SITE}/plan")).json()
    starts = [datetime.fromisoformat(s["start"]) for s in plan["slots"]]
    first = starts.index(start) - 1
    sessions = [s for s in plan["sessions"] if not s["expected"]]
    if not sessions:
        return []
    power = sessions[0]["power_kw"]
    return [(plan["slots"][t]["cap_kw"], power[t]) for t in range(first, first + 3)]


async def test_a_program_registers_its_ven_and_resumes_after_a_restart(
    vtn: Vtn, database_url: str
) -> None:
    settings = settings_for(database_url, replan_interval=3600.0)
    async with running(settings) as first, api_client(first) as api:
        body = {"id": SITE, "name": "Depot", "time_zone": "UTC"}
        assert (await api.post("/sites", json=body)).status_code == 201
        shown = await program(api, vtn)
        assert shown["status"]["ven_id"] == VEN_ID
        assert shown["status"]["last_error"] is None
        assert shown["level_cuts_percent"] == [0, 30, 60, 100]
        assert vtn.registrations[0]["ven_name"] == "ampnexus-depot"
        assert [p["id"] for p in (await api.get("/demand-response/programs")).json()] == ["flex"]
        polled = await eventually(lambda: _last_poll(api), within=EVENT_S)
        assert polled is not None

    async with running(settings) as again, api_client(again) as api:
        resumed = await program_status(api)
        assert resumed["status"]["ven_id"] == VEN_ID
        assert len(vtn.registrations) == 2
        assert vtn.registrations[-1].get("ven_id") == VEN_ID  # registered as the same VEN


async def _last_poll(api: httpx.AsyncClient) -> str | None:
    shown = (await api.get("/demand-response/programs/flex")).json()
    return shown["status"]["last_poll_at"]  # type: ignore[no-any-return]


async def program_status(api: httpx.AsyncClient) -> dict[str, Any]:
    async def registered() -> dict[str, Any] | None:
        shown = (await api.get("/demand-response/programs/flex")).json()
        return shown if shown["status"]["registered"] else None

    return await eventually(registered, within=EVENT_S)


async def test_a_simple_level_2_event_cuts_the_plan_and_its_cancellation_lifts_it(
    api: httpx.AsyncClient, ocpp_url: str, vtn: Vtn, site: str
) -> None:
    await program(api, vtn)
    async with charger(ocpp_url, "CP-A") as cp:
        cp.configuration["NumberOfConnectors"] = ("1", True)  # no EV expected beside it
        await start_charging(cp)
        start = next_slot()
        before = await eventually(lambda: _planned_at_full(api, start))
        assert before == [(22.0, CHARGER_KW)] * 3

        event_id = vtn.add("SIMPLE", "level", 2, start)

        async def cut() -> list[tuple[float, float]] | None:
            slots = await plan_slots(api, start)
            return slots if slots and slots[1][0] < 22.0 else None

        slots = await eventually(cut, within=EVENT_S)
        assert slots[0] == (22.0, CHARGER_KW)  # before the event: as it was
        for cap_kw, planned_kw in slots[1:]:
            assert cap_kw == pytest.approx(0.4 * CHARGER_KW)  # 60 % of 11 kW shed
            assert planned_kw <= cap_kw + 1e-6
        plan = (await api.get(f"/sites/{SITE}/plan")).json()
        shaped = [s["start"] for s in plan["slots"] if s["demand_response"] == [event_id]]
        assert [datetime.fromisoformat(s) for s in shaped] == [start, start + SLOT]
        # The charger is told: its TxProfile holds it within the cut during the event.
        at_most_a = 0.4 * CHARGER_KW * 1000 / (VOLTAGE * PHASES)
        await eventually(lambda: _async(profile_a_at(cp, start) <= at_most_a), within=EVENT_S)
        assert profile_a_at(cp, start - SLOT) == pytest.approx(CHARGER_KW * 1000 / 690, abs=0.1)
        await eventually(lambda: _async(vtn.opts.get(event_id) == "optIn"), within=EVENT_S)
        (shown,) = (await api.get("/demand-response/events")).json()["items"]
        assert (shown["event_id"], shown["opt"], shown["effect"]) == (event_id, "optIn", "cut")
        assert shown["intervals"][0]["cut_percent"] == 60.0
        assert shown["shapes_plans"] is True

        vtn.server.cancel_event(VEN_ID, event_id)
        assert await eventually(lambda: _planned_at_full(api, start), within=EVENT_S)
        (shown,) = (await api.get("/demand-response/events")).json()["items"]
        assert (shown["status"], shown["modification_number"]) == ("cancelled", 1)
        assert shown["shapes_plans"] is False


async def test_a_load_dispatch_setpoint_limits_the_sites_ev_load_in_kw(
    api: httpx.AsyncClient, ocpp_url: str, vtn: Vtn, site: str
) -> None:
    await program(api, vtn)
    async with charger(ocpp_url, "CP-A") as cp:
        cp.configuration["NumberOfConnectors"] = ("1", True)  # no EV expected beside it
        await start_charging(cp)
        start = next_slot()
        await eventually(lambda: _planned_at_full(api, start))
        vtn.add("LOAD_DISPATCH", "setpoint", 5.0, start)

        async def limited() -> list[tuple[float, float]] | None:
            slots = await plan_slots(api, start)
            return slots if slots and slots[1][0] < 22.0 else None

        slots = await eventually(limited, within=EVENT_S)
        assert slots[0] == (22.0, CHARGER_KW)
        for cap_kw, planned_kw in slots[1:]:
            assert cap_kw == pytest.approx(5.0)
            assert 0.0 < planned_kw <= 5.0 + 1e-6
        at_most_a = 5000.0 / (VOLTAGE * PHASES)
        await eventually(lambda: _async(profile_a_at(cp, start) <= at_most_a), within=EVENT_S)
        (shown,) = (await api.get("/demand-response/events")).json()["items"]
        assert (shown["effect"], shown["intervals"][0]["ev_limit_kw"]) == ("limit", 5.0)


async def test_an_opted_out_program_answers_opt_out_and_shapes_no_plan(
    server: AmpNexus, api: httpx.AsyncClient, ocpp_url: str, vtn: Vtn, site: str
) -> None:
    await program(api, vtn, opt_out=True)
    async with charger(ocpp_url, "CP-A") as cp:
        cp.configuration["NumberOfConnectors"] = ("1", True)  # no EV expected beside it
        await start_charging(cp)
        start = next_slot()
        await eventually(lambda: _planned_at_full(api, start))
        event_id = vtn.add("SIMPLE", "level", 3, start)
        await eventually(lambda: _async(vtn.opts.get(event_id) == "optOut"), within=EVENT_S)
        (shown,) = (await api.get("/demand-response/events")).json()["items"]
        assert (shown["opt"], shown["opt_reason"]) == ("optOut", "notParticipating")
        assert await _planned_at_full(api, start)
        # Integrators hear of it: grid.event_received, committed with the event.
        feed = await server.services.feed.read(0, 500)
        (received,) = [json.loads(e.data) for e in feed if e.type == "grid.event_received"]
        assert (received["event_id"], received["site_id"], received["opt"]) == (
            event_id,
            SITE,
            "optOut",
        )


async def test_programs_are_validated(api: httpx.AsyncClient, vtn: Vtn, site: str) -> None:
    base = {"id": "p", "vtn_url": vtn.url, "ven_name": "v", "site_ids": [SITE]}
    unknown = await api.post("/demand-response/programs", json={**base, "site_ids": ["nope"]})
    assert unknown.status_code == 422
    bad_url = await api.post("/demand-response/programs", json={**base, "vtn_url": "ftp://x"})
    assert bad_url.status_code == 422
    assert (await api.post("/demand-response/programs", json=base)).status_code == 201
    assert (await api.post("/demand-response/programs", json=base)).status_code == 409
    patched = await api.patch("/demand-response/programs/p", json={"opt_out": True})
    assert patched.json()["opt_out"] is True
    assert (await api.delete("/demand-response/programs/p")).status_code == 204
    assert (await api.get("/demand-response/programs/p")).status_code == 404


async def _planned_at_full(api: httpx.AsyncClient, start: datetime) -> list[Any] | None:
    slots = await plan_slots(api, start)
    return slots if slots and all(s == (22.0, CHARGER_KW) for s in slots) else None


def profile_a_at(cp: TestCharger, moment: datetime) -> float:
    """The limit (A per phase) the charger's latest TxProfile sets at `moment`."""
    found = profiles(cp, "TxProfile")
    if not found:
        return math.inf
    schedule = found[-1]["cs_charging_profiles"]["charging_schedule"]
    start = datetime.fromisoformat(schedule["start_schedule"])
    offset = (moment - start).total_seconds()
    periods = [p for p in schedule["charging_schedule_period"] if p["start_period"] <= offset]
    return float(periods[-1]["limit"]) if periods else math.inf


async def _async(value: bool) -> bool:
    return value


async def test_an_unreachable_vtn_shows_in_the_status(api: httpx.AsyncClient, site: str) -> None:
    body = {
        "id": "gone",
        "vtn_url": f"http://127.0.0.1:{free_port()}/OpenADR2/Simple/2.0b",
        "ven_name": "v",
        "site_ids": [SITE],
        "poll_interval_s": 1,
    }
    assert (await api.post("/demand-response/programs", json=body)).status_code == 201

    async def failing() -> dict[str, Any] | None:
        status = (await api.get("/demand-response/programs/gone")).json()["status"]
        return status if status["last_error"] else None

    status = await eventually(failing, within=EVENT_S)
    assert status["registered"] is False
    assert "did not answer" in status["last_error"]


async def test_a_price_event_moves_charging_to_its_cheap_slots(
    api: httpx.AsyncClient, ocpp_url: str, vtn: Vtn, site: str
) -> None:
    """5.5 kWh due in four hours, half an hour at full power: dear for the first hour, free
    for the half hour after, dear again to the departure. The plan charges in the free part."""
    await program(api, vtn)
    async with charger(ocpp_url, "CP-A") as cp:
        cp.configuration["NumberOfConnectors"] = ("1", True)
        transaction_id = await start_charging(cp)
        departure = datetime.now(UTC) + timedelta(hours=4)
        need = {"energy_kwh": 5.5, "departure": departure.isoformat()}
        assert (await api.put(f"/transactions/{transaction_id}/need", json=need)).is_success
        now_slot = next_slot(timedelta(0))
        cheap = now_slot + 4 * SLOT
        event_id = vtn.add_prices(
            [(now_slot, 4, 0.5), (cheap, 2, 0.0), (cheap + 2 * SLOT, 12, 0.5)]
        )

        async def priced() -> dict[str, Any] | None:
            answer = await api.get(f"/sites/{SITE}/plan")
            assert answer.status_code == 200, answer.text
            plan = answer.json()
            starts = [datetime.fromisoformat(s["start"]) for s in plan["slots"]]
            return (
                plan
                if cheap in starts and plan["slots"][starts.index(cheap)]["demand_response"]
                else None
            )

        plan = await eventually(priced, within=EVENT_S)
        starts = [datetime.fromisoformat(s["start"]) for s in plan["slots"]]
        at = starts.index(cheap)
        (session,) = [s for s in plan["sessions"] if not s["expected"]]
        power = session["power_kw"]
        assert power[at] == pytest.approx(CHARGER_KW) and power[at + 1] == pytest.approx(CHARGER_KW)
        assert sum(power) == pytest.approx(2 * CHARGER_KW)  # nothing in the dear slots
        assert plan["slots"][at]["import_price"] == 0.0
        assert plan["slots"][at - 1]["import_price"] == 0.5
        (shown,) = (await api.get("/demand-response/events")).json()["items"]
        assert (shown["event_id"], shown["opt"], shown["effect"]) == (event_id, "optIn", "price")


async def test_the_vtn_receives_each_sites_ev_load_as_telemetry(
    api: httpx.AsyncClient, ocpp_url: str, vtn: Vtn, site: str
) -> None:
    await program(api, vtn)
    await eventually(lambda: _async(bool(vtn.offered)), within=EVENT_S)
    assert vtn.offered == [{"resource_id": SITE, "measurement": "RealPower", "unit": "W"}]
    async with charger(ocpp_url, "CP-A") as cp:
        transaction_id = await start_charging(cp)
        await cp.meter_values(1, transaction_id, energy_wh=100.0, power_w=7_200.0)

        async def reported() -> bool:
            return 7_200.0 in vtn.reported.get(SITE, [])

        await eventually(reported, within=EVENT_S)


async def test_an_event_that_would_leave_a_premium_driver_short_is_opted_out(
    api: httpx.AsyncClient, ocpp_url: str, vtn: Vtn, site: str
) -> None:
    """A premium driver needs 20 kWh within two hours (22 kWh at full power): an hour at
    0 kW would leave them short, so AmpNexus declines it and the plan is unchanged."""
    profile = {"name": "Ann", "priority": "premium", "id_tags": ["TAG"]}
    assert (await api.post("/driver-profiles", json=profile)).status_code == 201
    await program(api, vtn)
    async with charger(ocpp_url, "CP-A") as cp:
        cp.configuration["NumberOfConnectors"] = ("1", True)
        transaction_id = await start_charging(cp)
        departure = next_slot(timedelta(hours=2))
        need = {"energy_kwh": 20, "departure": departure.isoformat()}
        assert (await api.put(f"/transactions/{transaction_id}/need", json=need)).is_success
        start = next_slot()
        await eventually(lambda: plan_slots(api, start))
        event_id = vtn.add("LOAD_DISPATCH", "setpoint", 0.0, start)
        await eventually(lambda: _async(vtn.opts.get(event_id) == "optOut"), within=EVENT_S)
        (shown,) = (await api.get("/demand-response/events")).json()["items"]
        assert (shown["opt"], shown["opt_reason"]) == ("optOut", "x-premium-driver-short")
        plan = (await api.post(f"/sites/{SITE}/plan")).json()
        assert all(s["cap_kw"] == 22.0 and not s["demand_response"] for s in plan["slots"])


async def test_an_event_that_ends_is_announced(
    server: AmpNexus, api: httpx.AsyncClient, vtn: Vtn, site: str
) -> None:
    await program(api, vtn)
    soon = datetime.now(UTC) + timedelta(seconds=1)
    interval = objects.Interval(dtstart=soon, duration=timedelta(seconds=1), signal_payload=1)
    event_id = vtn.server.add_event(VEN_ID, "SIMPLE", "level", [interval], callback=vtn._opted)

    async def ended() -> dict[str, Any] | None:
        feed = await server.services.feed.read(0, 500)
        found = [json.loads(e.data) for e in feed if e.type == "grid.event_ended"]
        return found[0] if found else None

    announced = await eventually(ended, within=EVENT_S)
    assert (announced["event_id"], announced["site_id"]) == (event_id, SITE)


async def test_a_site_set_to_opt_out_is_left_out_of_the_programs_events(
    server: AmpNexus, api: httpx.AsyncClient, ocpp_url: str, vtn: Vtn, site: str
) -> None:
    """S2 always opts out: an event for both sites is answered optIn (S1 takes part) and
    leaves S2 alone; once S1 opts out too, the next event is answered optOut."""
    body = {"id": "S2", "name": "Yard", "time_zone": "UTC"}
    assert (await api.post("/sites", json=body)).status_code == 201
    created = await program(api, vtn, site_ids=[SITE, "S2"], opt_out_site_ids=["S2"])
    assert created["opt_out_site_ids"] == ["S2"]
    async with charger(ocpp_url, "CP-A") as cp:
        cp.configuration["NumberOfConnectors"] = ("1", True)
        await start_charging(cp)
        start = next_slot()
        await eventually(lambda: _planned_at_full(api, start))
        first = vtn.add("SIMPLE", "level", 3, start)
        await eventually(lambda: _async(vtn.opts.get(first) == "optIn"), within=EVENT_S)
        (shown,) = (await api.get("/demand-response/events")).json()["items"]
        assert (shown["opt"], shown["site_ids"]) == ("optIn", [SITE, "S2"])
        assert shown["sites"] == [
            {"site_id": SITE, "opt": "optIn", "opt_reason": "participating"},
            {"site_id": "S2", "opt": "optOut", "opt_reason": "notParticipating"},
        ]
        await eventually(lambda: _cut_at(api, start), within=EVENT_S)  # S1 takes part
        feed = await server.services.feed.read(0, 500)
        received = {
            (e["site_id"], e["opt"])
            for e in (json.loads(x.data) for x in feed if x.type == "grid.event_received")
        }
        assert received == {(SITE, "optIn"), ("S2", "optOut")}
        # The VTN is told which site stays out of the event it was answered optIn.
        await eventually(lambda: _async(bool(vtn.opted_out)), within=EVENT_S)
        (told,) = vtn.opted_out
        assert (told["opt_type"], told["opt_reason"], told["event_id"]) == (
            "optOut",
            "notParticipating",
            first,
        )
        assert [t["resource_id"] for t in told["targets"]] == ["S2"]

        patched = await api.patch(
            "/demand-response/programs/flex", json={"opt_out_site_ids": [SITE, "S2"]}
        )
        assert patched.json()["opt_out_site_ids"] == [SITE, "S2"]
        vtn.server.cancel_event(VEN_ID, first)
        assert await eventually(lambda: _planned_at_full(api, start), within=EVENT_S)
        second = vtn.add("SIMPLE", "level", 3, start)
        await eventually(lambda: _async(vtn.opts.get(second) == "optOut"), within=EVENT_S)
        shown = next(
            e
            for e in (await api.get("/demand-response/events")).json()["items"]
            if e["event_id"] == second
        )
        assert (shown["opt"], shown["opt_reason"]) == ("optOut", "notParticipating")
        assert {s["opt"] for s in shown["sites"]} == {"optOut"}
        assert await _planned_at_full(api, start)
    kept = (await api.get("/demand-response/programs/flex")).json()
    assert kept["opt_out_site_ids"] == [SITE, "S2"]


async def test_only_a_programs_sites_may_opt_out(
    api: httpx.AsyncClient, vtn: Vtn, site: str
) -> None:
    base = {"id": "p", "vtn_url": vtn.url, "ven_name": "v", "site_ids": [SITE]}
    elsewhere = await api.post(
        "/demand-response/programs", json={**base, "opt_out_site_ids": ["S9"]}
    )
    assert elsewhere.status_code == 422
    assert (await api.post("/demand-response/programs", json=base)).status_code == 201
    bad = await api.patch("/demand-response/programs/p", json={"opt_out_site_ids": ["S9"]})
    assert bad.status_code == 422
    body = {"id": "S2", "name": "Yard", "time_zone": "UTC"}
    assert (await api.post("/sites", json=body)).status_code == 201
    both = {"site_ids": [SITE, "S2"], "opt_out_site_ids": ["S2"]}
    assert (await api.patch("/demand-response/programs/p", json=both)).status_code == 200
    # A site the program no longer covers leaves the opted-out ones with it.
    narrowed = await api.patch("/demand-response/programs/p", json={"site_ids": [SITE]})
    assert narrowed.json()["opt_out_site_ids"] == []


async def _cut_at(api: httpx.AsyncClient, start: datetime) -> bool:
    slots = await plan_slots(api, start)
    return bool(slots) and slots[1][0] < 22.0


async def test_events_are_listed_by_window_site_and_page(
    api: httpx.AsyncClient, vtn: Vtn, site: str
) -> None:
    """A program's events pile up for years: the list takes a time window, a site and a
    page, as every other list does."""
    body = {"id": "S2", "name": "Yard", "time_zone": "UTC"}
    assert (await api.post("/sites", json=body)).status_code == 201
    await program(api, vtn)
    soon, later = next_slot(), next_slot(timedelta(hours=3))
    first = vtn.add("SIMPLE", "level", 1, soon)
    second = vtn.add("SIMPLE", "level", 2, later)

    async def both() -> list[Any] | None:
        found = (await api.get("/demand-response/events")).json()
        return found["items"] if found["total"] == 2 else None

    assert [e["event_id"] for e in await eventually(both, within=EVENT_S)] == [first, second]

    async def listed(**query: str | int) -> tuple[list[str], int]:
        found = (await api.get("/demand-response/events", params=query)).json()
        return [e["event_id"] for e in found["items"]], found["total"]

    after_first = (soon + 2 * SLOT).isoformat()
    assert await listed(since=after_first) == ([second], 1)
    assert await listed(until=(later - SLOT).isoformat()) == ([first], 1)
    assert await listed(since=soon.isoformat(), until=later.isoformat()) == ([first], 1)
    assert await listed(site_id=SITE) == ([first, second], 2)
    assert await listed(site_id="S2") == ([], 0)
    assert await listed(limit=1) == ([first], 2)
    assert await listed(limit=1, offset=1) == ([second], 2)
    assert await listed(program_id="other") == ([], 0)
    refused = await api.get("/demand-response/events", params={"since": "yesterday"})
    assert refused.status_code == 422
