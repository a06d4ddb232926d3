"""Charging modes do what they say, held by the chargers themselves (ADR 0009, Enforcement):
real server, test chargers that hold what they are sent (tests/support/held_limits.py) and
a clock the test sets. Europe/London in January, so local time is UTC."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import httpx
import pytest

from ampnexus.app import AmpNexus
from ampnexus.domain.charging_profile import ProfilePurpose
from ampnexus.domain.id_tag import own_id_tag
from tests.conftest import test_settings as settings_for
from tests.integration.test_smart_charging import eventually
from tests.support.held_charger import Car, FakeClock, Station
from tests.support.held_limits import Holder
from tests.support.server import api_client, running

SITE, ZONE, PASSWORD = "S1", "Europe/London", "a-long-enough-password"
CHARGER_W = 11_040.0  # 16 A x 230 V x 3
MONDAY = datetime(2026, 1, 12, tzinfo=UTC)
SATURDAY = MONDAY + timedelta(days=5)
S = timedelta(seconds=1)
# The mode profile goes out after a replan, in the background; CI runs 4 test processes on
# 2 cores, where that once took over 10 s.
MODE_PROFILE_WAIT_S = 30.0
MIN = timedelta(minutes=1)


@dataclass
class Site:
    app: AmpNexus
    api: httpx.AsyncClient
    clock: FakeClock
    stations: dict[str, Station]


@contextlib.asynccontextmanager
async def site(
    database_url: str, at: datetime, mode: dict[str, Any], chargers: int = 2
) -> AsyncIterator[Site]:
    """A 100 kW site whose chargers (security profile 1) are in `mode` and connected."""
    clock = FakeClock(at)
    ids = [f"CP-{n}" for n in range(1, chargers + 1)]
    stations = {
        cp: Station(
            cp,
            Holder(connectors=1, connector_max_w=CHARGER_W),
            clock,
            units=("Current", "Power"),
            max_periods=40,
            password=PASSWORD,
        )
        for cp in ids
    }
    async with (
        running(settings_for(database_url), clock=clock) as app,
        api_client(app) as api,
        contextlib.AsyncExitStack() as links,
    ):
        body = {
            "id": SITE,
            "name": "Home",
            "time_zone": ZONE,
            "grid_limit_kw": 100,
            "default_energy_kwh": 60,
            "default_departure": "07:00",
        }
        assert (await api.post("/sites", json=body)).status_code == 201
        assert (await api.post("/id-tags", json={"id_tag": "TAG"})).status_code == 201
        for cp in ids:
            made = await api.post("/charge-points", json={"id": cp, "password": PASSWORD})
            assert made.status_code == 201, made.text
            placement = {"site_id": SITE, "phases": 3, "max_power_w": CHARGER_W}
            assert (await api.put(f"/charge-points/{cp}", json=placement)).status_code == 200
            put = await api.put(f"/charge-points/{cp}/mode", json=mode)
            assert put.status_code == 200, put.text
        for station in stations.values():
            await links.enter_async_context(
                station.connected(f"ws://127.0.0.1:{app.ocpp_port}/ocpp")
            )
            await station.boot()
        scene = Site(app, api, clock, stations)
        await settled(scene)
        yield scene
    # Every profile sent was one the charger could take: valid OCPP 1.6 (its `ocpp` library
    # checks the schema), in a unit it offers, within its periods and stack levels.
    for station in stations.values():
        assert station.refused == [], (station.id, station.refused)


async def settled(scene: Site) -> None:
    smart = scene.app.services.smart_charging
    await smart.dispatched(SITE)
    for station in scene.stations.values():
        await station.quiet()


def first_open(station: Station, start: datetime, end: datetime) -> datetime | None:
    """The first instant in [start, end) at which the car may draw."""
    holder = station.holder
    for at in sorted({start} | holder.change_instants(start, end)):
        if station.draw_w(1, at) > 0:
            return at
    return None


def held_mode_profile(station: Station) -> bool:
    return any(p.purpose == ProfilePurpose.CHARGE_POINT_MAX.value for p in station.holder.profiles)


async def plug_in(scene: Site, cp: str) -> int:
    """Plugged in, and the plan that counts the session sent (on a busy machine the replan
    the session asks for can start after the previous dispatch ended)."""
    transaction = await scene.stations[cp].plug_in(1, Car(max_w=CHARGER_W))

    async def planned() -> bool:
        shown = (await scene.api.get(f"/sites/{SITE}/plan")).json()
        return any(s.get("transaction_id") == transaction for s in shown.get("sessions", []))

    await eventually(planned)
    await settled(scene)
    return transaction


async def plan_session(scene: Site, cp: str) -> dict[str, Any]:
    shown = (await scene.api.get(f"/sites/{SITE}/plan")).json()
    return next(s for s in shown["sessions"] if s["charge_point_id"] == cp)


REGULATION = {"mode": "regulation_compliance"}


async def test_a_weekday_1730_plug_in_charges_from_2200_plus_a_delay(database_url: str) -> None:
    async with site(database_url, MONDAY + timedelta(hours=17, minutes=30), REGULATION) as s:
        for cp in s.stations:
            await eventually(
                lambda cp=cp: _true(held_mode_profile(s.stations[cp])), within=MODE_PROFILE_WAIT_S
            )
        starts = {}
        for cp in s.stations:
            await plug_in(s, cp)
            assert (await plan_session(s, cp))["waiting_reason"] == "peak_window"
            assert (await plan_session(s, cp))["mode"] == "regulation_compliance"
        ten_pm = MONDAY + timedelta(hours=22)
        for cp, station in s.stations.items():
            assert first_open(station, s.clock.now(), ten_pm) is None, cp
            opens = first_open(station, ten_pm, ten_pm + timedelta(hours=1))
            assert opens is not None and opens <= ten_pm + timedelta(seconds=600), cp
            starts[cp] = opens
            assert station.draw_w(1, ten_pm + timedelta(seconds=601)) > 0
        assert len(set(starts.values())) == 2  # the delays differ across chargers


async def test_stopped_the_chargers_still_avoid_next_weeks_peaks(database_url: str) -> None:
    now = MONDAY + timedelta(hours=12)
    async with site(database_url, now, REGULATION) as s:
        for cp in s.stations:
            await eventually(
                lambda cp=cp: _true(held_mode_profile(s.stations[cp])), within=MODE_PROFILE_WAIT_S
            )
            await plug_in(s, cp)
    # AmpNexus is gone; the chargers keep what they hold.
    for station in s.stations.values():
        for day in range(7):
            date = MONDAY + timedelta(days=day)
            if date.weekday() >= 5:
                continue
            for begin, end in ((8, 11), (16, 22)):
                start = max(now, date + timedelta(hours=begin))
                stop = date + timedelta(hours=end)
                if stop > now:
                    assert first_open(station, start, stop) is None, (station.id, start)
        # Past the plan's horizon what the charger holds lets it charge outside the peaks.
        for at in (
            MONDAY + timedelta(days=2, hours=12),
            MONDAY + timedelta(days=3, hours=23),
            SATURDAY + timedelta(hours=17),
            MONDAY + timedelta(days=2, hours=22, seconds=601),
        ):
            assert station.draw_w(1, at) > 0, (station.id, at, station.holder.explain(1, at))


async def test_the_peak_windows_held_stay_local_across_the_clock_change(
    database_url: str,
) -> None:
    """Summer time ends on Sunday 25 October 2026: the 16:00-22:00 window is 15:00-21:00
    UTC on the Friday before and 16:00-22:00 UTC on the Monday after, in one held profile."""
    friday = datetime(2026, 10, 23, 12, tzinfo=UTC)  # 13:00 BST
    monday = datetime(2026, 10, 26, tzinfo=UTC)
    async with site(database_url, friday, REGULATION, chargers=1) as s:
        station = s.stations["CP-1"]
        await eventually(lambda: _true(held_mode_profile(station)), within=MODE_PROFILE_WAIT_S)
        await plug_in(s, "CP-1")
    # AmpNexus is gone; the charger keeps what it holds.
    assert first_open(station, friday + timedelta(hours=3), friday + timedelta(hours=9)) is None
    assert station.draw_w(1, friday + timedelta(hours=9, seconds=601)) > 0  # 22:00 BST + delay
    assert first_open(station, monday + timedelta(hours=16), monday + timedelta(hours=22)) is None
    assert station.draw_w(1, monday + timedelta(hours=15, minutes=30)) > 0  # 15:30 GMT
    assert station.draw_w(1, monday + timedelta(hours=22, seconds=601)) > 0


async def test_a_rise_of_the_rate_waits_its_delay_and_a_fall_does_not(database_url: str) -> None:
    """Monday 12:00, off-peak: the site's limit drops to 8 kW (the chargers fall at once;
    one of three keeps charging), then at 12:30 it is back to 100 kW: each charger the plan
    raises rises after its own delay, 0..600 s from 12:30, not before."""
    async with site(database_url, MONDAY + timedelta(hours=12), REGULATION, chargers=3) as s:
        for cp in s.stations:
            await plug_in(s, cp)
        s.clock.at = MONDAY + timedelta(hours=12, minutes=11)  # past every start delay
        s.app.services.smart_charging.request_replan(SITE)
        full = s.clock.at
        await eventually(
            lambda: _true(all(st.draw_w(1, full) == CHARGER_W for st in s.stations.values()))
        )
        assert (await s.api.patch(f"/sites/{SITE}", json={"grid_limit_kw": 8})).status_code == 200
        now = s.clock.at

        def drawn_now() -> list[float]:
            return [station.draw_w(1, now) for station in s.stations.values()]

        await eventually(lambda: _true(sum(drawn_now()) <= 8000))
        await settled(s)
        low = drawn_now()
        s.clock.at = rise = MONDAY + timedelta(hours=12, minutes=30)
        assert (await s.api.patch(f"/sites/{SITE}", json={"grid_limit_kw": 100})).status_code == 200

        def risen_at() -> list[datetime | None]:
            """When each charger's draw first goes above what it drew at 8 kW."""
            return [
                next(
                    (
                        moment
                        for moment in sorted(
                            {rise} | station.holder.change_instants(rise, rise + 20 * MIN)
                        )
                        if station.draw_w(1, moment) > before
                    ),
                    None,
                )
                for station, before in zip(s.stations.values(), low, strict=True)
            ]

        # The two held at 0 rise (they need energy); the one at 8 kW may stay there.
        await eventually(lambda: _true(sum(at is not None for at in risen_at()) >= 2))
        await settled(s)
        shown = (await s.api.get(f"/sites/{SITE}/plan")).json()
    slot = timedelta(seconds=shown["slot_seconds"])
    delays = []
    for station, before, at in zip(s.stations.values(), low, risen_at(), strict=True):
        if at is None:
            continue
        # The slot the plan raises it in: its rise may happen only after its delay from there.
        power = next(x["power_kw"] for x in shown["sessions"] if x["charge_point_id"] == station.id)
        planned = rise + slot * next(i for i, kw in enumerate(power) if kw * 1000 > before)
        assert planned <= at <= planned + timedelta(seconds=600), (station.id, planned, at)
        delays.append(at - planned)
    assert max(delays) > timedelta(0), "every delay was 0 s (1 in 361,201 or less)"


async def test_switching_to_regulation_mode_holds_back_a_session_under_way(
    database_url: str,
) -> None:
    now = MONDAY + timedelta(hours=17)
    async with site(database_url, now, {"mode": "smart"}, chargers=1) as s:
        station = s.stations["CP-1"]
        await plug_in(s, "CP-1")
        assert station.draw_w(1, now) == CHARGER_W
        put = await s.api.put("/charge-points/CP-1/mode", json=REGULATION)
        assert put.status_code == 200, put.text
        await eventually(lambda: _true(held_mode_profile(station)), within=MODE_PROFILE_WAIT_S)
        await settled(s)
        assert first_open(station, now, MONDAY + timedelta(hours=22)) is None
        assert (await plan_session(s, "CP-1"))["waiting_reason"] == "peak_window"


async def test_smart_waits_for_cheap_hours_that_still_meet_the_need(database_url: str) -> None:
    """Economy 7 on a weekday: 30 p, 7.5 p from 00:30 to 07:30. Plugged in at 18:00 with
    60 kWh to go by 07:00, the car waits for 00:30 and still gets all of it."""
    evening = MONDAY + timedelta(hours=18)
    async with site(database_url, evening, {"mode": "smart"}, chargers=1) as s:
        tariff = {
            "name": "Economy 7",
            "kind": "time_of_use",
            "import_price": 30,
            "valid_from": "2026-01-01T00:00:00Z",
            "bands": [{"start": "00:30", "end": "07:30", "import_price": 7.5, "days": "weekdays"}],
        }
        assert (await s.api.post(f"/sites/{SITE}/tariffs", json=tariff)).status_code == 201
        await settled(s)
        await plug_in(s, "CP-1")
        station = s.stations["CP-1"]
        cheap = MONDAY + timedelta(days=1, minutes=30)
        assert first_open(station, evening, cheap) is None
        assert (await plan_session(s, "CP-1"))["waiting_reason"] == "waiting_for_price"
    departure = MONDAY + timedelta(days=1, hours=7)
    edges = sorted({cheap, departure} | station.holder.change_instants(cheap, departure))
    wh = sum(
        station.draw_w(1, begin) * (end - begin) / timedelta(hours=1)
        for begin, end in pairwise(edges)
    )
    assert wh >= 60_000 * 0.99, wh


async def test_plug_and_charge_starts_each_car_within_the_sites_limit(database_url: str) -> None:
    async with site(database_url, MONDAY + timedelta(hours=12), {"mode": "plug_and_charge"}) as s:
        assert (await s.api.patch(f"/sites/{SITE}", json={"grid_limit_kw": 12})).status_code == 200
        for cp, station in s.stations.items():
            await station.arrive(1, Car(max_w=CHARGER_W))
            await eventually(
                lambda station=station: _true(
                    station.link is not None and station.link.asked("RemoteStartTransaction")
                )
            )
            assert station.link is not None
            asked = next(p for a, p in station.link.received if a == "RemoteStartTransaction")
            assert asked["id_tag"] == own_id_tag(cp)
            await station.start(1, asked["id_tag"])
        await settled(s)
        now = s.clock.at
        drawn = [station.draw_w(1, now) for station in s.stations.values()]
        assert all(w > 0 for w in drawn) and sum(drawn) <= 12_000, drawn
        sessions = (await s.api.get("/transactions", params={"active": "true"})).json()
        assert {t["started_remotely"] for t in sessions["items"]} == {True}, sessions


async def test_a_weekend_plug_in_charges_after_its_delay(database_url: str) -> None:
    now = SATURDAY + timedelta(hours=17)
    async with site(database_url, now, REGULATION, chargers=1) as s:
        await plug_in(s, "CP-1")
        station = s.stations["CP-1"]
        opens = first_open(station, now, now + timedelta(hours=1))
        assert opens is not None and opens <= now + timedelta(seconds=600)


async def test_charge_now_charges_at_once_in_a_peak_window(database_url: str) -> None:
    now = MONDAY + timedelta(hours=17)
    async with site(database_url, now, REGULATION, chargers=1) as s:
        station = s.stations["CP-1"]
        await eventually(lambda: _true(held_mode_profile(station)), within=MODE_PROFILE_WAIT_S)
        transaction_id = await plug_in(s, "CP-1")
        assert first_open(station, now, now + timedelta(hours=1)) is None
        set_ = await s.api.post(f"/transactions/{transaction_id}/override")
        assert set_.status_code == 200 and set_.json()["charge_now"], set_.text
        await eventually(lambda: _true(not held_mode_profile(station)), within=MODE_PROFILE_WAIT_S)
        await settled(s)
        assert station.draw_w(1, now) > 0, station.holder.explain(1, now)
        # Cancelled: the peak window holds it back again, in the charger itself.
        cancelled = await s.api.delete(f"/transactions/{transaction_id}/override")
        assert cancelled.status_code == 200 and not cancelled.json()["charge_now"]
        await eventually(lambda: _true(held_mode_profile(station)), within=MODE_PROFILE_WAIT_S)
        await settled(s)
        assert first_open(station, now, now + timedelta(hours=1)) is None


async def test_schedule_charges_only_inside_its_windows(database_url: str) -> None:
    night = {"mode": "schedule", "windows": [{"days": ["mon"], "start": "23:00", "end": "06:00"}]}
    now = MONDAY + timedelta(hours=20)
    async with site(database_url, now, night, chargers=1) as s:
        station = s.stations["CP-1"]
        await eventually(lambda: _true(held_mode_profile(station)), within=MODE_PROFILE_WAIT_S)
        await plug_in(s, "CP-1")
        assert (await plan_session(s, "CP-1"))["waiting_reason"] == "outside_schedule"
        eleven = MONDAY + timedelta(hours=23)
        assert first_open(station, now, eleven) is None
        assert station.draw_w(1, eleven) > 0
        six = MONDAY + timedelta(days=1, hours=6)
        assert first_open(station, six, six + timedelta(hours=12)) is None


async def test_user_controlled_draws_nothing_when_started_locally(database_url: str) -> None:
    now = MONDAY + timedelta(hours=12)
    async with site(database_url, now, {"mode": "user_controlled"}, chargers=1) as s:
        await plug_in(s, "CP-1")
        station = s.stations["CP-1"]
        assert first_open(station, now, now + timedelta(hours=20)) is None
        assert (await plan_session(s, "CP-1"))["waiting_reason"] == "user_controlled"


async def test_user_controlled_charges_a_session_started_through_the_api(
    database_url: str,
) -> None:
    now = MONDAY + timedelta(hours=12)
    async with site(database_url, now, {"mode": "user_controlled"}, chargers=1) as s:
        started = await s.api.post(
            "/charge-points/CP-1/remote-start", json={"id_tag": "TAG", "connector_id": 1}
        )
        assert started.status_code == 200 and started.json()["status"] == "Accepted"
        transaction_id = await plug_in(s, "CP-1")
        shown = (await s.api.get(f"/transactions/{transaction_id}")).json()
        assert shown["started_remotely"], shown
        station = s.stations["CP-1"]
        await eventually(lambda: _true(station.draw_w(1, now) > 0))
        assert (await plan_session(s, "CP-1"))["waiting_reason"] is None


async def _true(value: bool) -> bool:
    return value


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
