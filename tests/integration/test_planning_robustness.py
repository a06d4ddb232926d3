"""Planning holds up against what chargers claim and against its own failures: a reading
outside physical bounds is ignored and flagged, a session with absurd times or registers is
planned on sane assumptions and flagged, and a failed replan keeps the last good plan
(stale) with an alert that the next good replan resolves. Real server, both databases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx
import pytest

from ampnexus.app import AmpNexus
from ampnexus.charging.model import Plan, PlanRequest
from ampnexus.charging.planner import plan
from ampnexus.domain.events import TransactionStopped
from ampnexus.domain.needs import departure_after
from ampnexus.domain.transaction import (
    MeterReading,
    SampledValue,
    TransactionStart,
    TransactionStop,
)
from ampnexus.store.transactions import SqlTransactionStore
from tests.conftest import test_settings as settings_for
from tests.integration.test_smart_charging import eventually, profiles, start_charging
from tests.support.charger import charger
from tests.support.server import running

SITE, ZONE = "S1", "Europe/Berlin"
METER_W = 18_000.0
SITE_DEFAULT_KWH, SITE_DEFAULT_DEPARTURE = 10.0, time(18, 0)


class FrozenClock:
    """The server's time stands still, so two plans made from the same inputs are equal."""

    def __init__(self) -> None:
        self.at = datetime.now(UTC).replace(microsecond=0)

    def now(self) -> datetime:
        return self.at


class SwitchablePlanner:
    """The real planner, until a test makes it fail."""

    def __init__(self) -> None:
        self.error: Exception | None = None

    def __call__(self, request: PlanRequest, **options: Any) -> Plan:
        if self.error is not None:
            raise self.error
        return plan(request, **options)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def planner() -> SwitchablePlanner:
    return SwitchablePlanner()


@pytest.fixture
async def server(
    database_url: str, clock: FrozenClock, planner: SwitchablePlanner
) -> AsyncIterator[AmpNexus]:
    async with running(settings_for(database_url), clock=clock, planner=planner) as app:
        yield app


@pytest.fixture
async def site(server: AmpNexus, api: httpx.AsyncClient, clock: FrozenClock) -> str:
    """22 kW site in Berlin with CP-A and CP-B (11 kW, three phases); the site meter says
    18 kW, so the base load is 18 kW minus what the chargers report."""
    body = {"id": SITE, "name": "Depot", "time_zone": ZONE, "grid_limit_kw": 22}
    assert (await api.post("/sites", json=body)).status_code == 201
    for cp_id in ("CP-A", "CP-B"):
        created = await api.post("/charge-points", json={"id": cp_id, "security_profile": 0})
        assert created.status_code == 201, created.text
        placement = {"site_id": SITE, "phases": 3, "max_power_w": 11_000}
        assert (await api.put(f"/charge-points/{cp_id}", json=placement)).status_code == 200
    assert (await api.post("/id-tags", json={"id_tag": "TAG"})).status_code == 201
    meter = {"points": [{"timestamp": clock.at.isoformat(), "value": METER_W}]}
    assert (await api.post(f"/sites/{SITE}/meter", json=meter)).status_code == 201
    await server.services.smart_charging.settled(SITE)  # the replans these changes made
    return SITE


async def replan(api: httpx.AsyncClient) -> dict[str, Any]:
    response = await api.post(f"/sites/{SITE}/plan")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def alerts(api: httpx.AsyncClient, **query: str) -> list[dict[str, Any]]:
    response = await api.get("/alerts", params=query)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def what_was_planned(shown: dict[str, Any]) -> tuple[Any, Any]:
    """A plan without when it was made and how long the solver took."""
    return shown["slots"], shown["sessions"]


def session_of(shown: dict[str, Any], charge_point_id: str) -> dict[str, Any]:
    return next(s for s in shown["sessions"] if s["charge_point_id"] == charge_point_id)


# --- readings ------------------------------------------------------------------------------------
# NaN and Infinity never become numbers at all (tests/integration/test_input_sanity.py).
@pytest.mark.parametrize("absurd_w", [-40_000.0, 1e9])
async def test_an_absurd_power_reading_leaves_the_plan_alone_and_is_flagged(
    api: httpx.AsyncClient, ocpp_url: str, site: str, absurd_w: float, clock: FrozenClock
) -> None:
    async with charger(ocpp_url, "CP-A") as a, charger(ocpp_url, "CP-B") as b:
        transactions = {"a": await start_charging(a), "b": await start_charging(b)}
        # Drawn when the meter read its 18 kW: the building load pairs readings by time.
        before_meter = (clock.at - timedelta(minutes=1)).isoformat()
        await a.meter_values(1, transactions["a"], 0, 6_000, timestamp=before_meter)
        await b.meter_values(1, transactions["b"], 0, 6_000, timestamp=before_meter)

        async def readings_taken() -> dict[str, Any] | None:
            shown = await replan(api)
            return shown if shown["slots"][0]["base_load_kw"] == 6.0 else None  # 18 - 6 - 6

        without = await eventually(readings_taken)
        await b.meter_values(1, transactions["b"], 0, absurd_w)  # taken in when answered
        with_it = await replan(api)
        assert what_was_planned(with_it) == what_was_planned(without)

        async def flagged() -> list[dict[str, Any]]:
            return await alerts(api, kind="implausible_reading", charge_point_id="CP-B")

        (alert,) = await eventually(flagged)
        assert alert["open"] and alert["site_id"] == SITE
        assert "ignored for planning" in alert["message"]

        # Said again: counted on the same alert, not repeated.
        await b.meter_values(1, transactions["b"], 0, absurd_w)

        async def counted() -> bool:
            found = await flagged()
            return len(found) == 1 and found[0]["count"] == 2

        await eventually(counted)
        assert await alerts(api, charge_point_id="CP-A") == []


# --- sessions ------------------------------------------------------------------------------------
FAR_FUTURE = datetime(9999, 12, 31, 23, tzinfo=UTC)  # past midnight in Berlin: year 10000
LONG_AGO = datetime(1, 1, 1, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "case", ["start in the future", "start long ago", "register below meter_start"]
)
async def test_a_running_session_with_absurd_values_is_planned_as_if_it_started_now(
    server: AmpNexus, api: httpx.AsyncClient, site: str, clock: FrozenClock, case: str
) -> None:
    store = SqlTransactionStore(server.db)
    now = clock.at
    await store.start(TransactionStart("CP-A", 1, "TAG", 0, now), now)
    started_at = {"start in the future": FAR_FUTURE, "start long ago": LONG_AGO}.get(case, now)
    meter_start = 2**40 if case == "register below meter_start" else 0
    absurd = await store.start(TransactionStart("CP-B", 1, "TAG", meter_start, started_at), now)
    power = SampledValue("6000", "Power.Active.Import")
    samples = (SampledValue("5000"), power) if case == "register below meter_start" else (power,)
    # A second before the meter's reading: one of the same instant may come after it.
    taken = [MeterReading(now - timedelta(seconds=1), samples)]
    await server.services.transactions.meter_values("CP-B", 1, absurd, taken)

    async def reading_taken() -> dict[str, Any] | None:  # the charger's first: taken async
        shown = await replan(api)
        return shown if shown["slots"][0]["base_load_kw"] == 12.0 else None  # 18 - 6

    shown = await eventually(reading_taken)

    assert {s["charge_point_id"] for s in shown["sessions"]} == {"CP-A", "CP-B"}
    planned = session_of(shown, "CP-B")
    assert planned["transaction_id"] == absurd
    assert planned["energy_needed_kwh"] == SITE_DEFAULT_KWH
    departure = departure_after(now, SITE_DEFAULT_DEPARTURE, ZONE)
    assert datetime.fromisoformat(planned["departure"]) == departure
    assert sum(planned["power_kw"]) > 0
    (alert,) = await eventually(
        lambda: alerts(api, kind="implausible_session", charge_point_id="CP-B")
    )
    assert alert["details"]["transaction_id"] == absurd
    assert f"transaction {absurd} on CP-B" in alert["message"]


async def test_history_with_absurd_times_teaches_neither_forecast_nor_habits(
    server: AmpNexus, api: httpx.AsyncClient, site: str, clock: FrozenClock
) -> None:
    """Three sessions are enough to learn a driver's habits (and the forecast reads them
    too); dated at the end of the calendar, their local times cannot even be computed."""
    store = SqlTransactionStore(server.db)
    now = clock.at
    for minutes in (0, 10, 20):
        started_at = FAR_FUTURE + timedelta(minutes=minutes)
        finished = await store.start(TransactionStart("CP-B", 1, "TAG", 0, started_at), now)
        stop = TransactionStop("CP-B", finished, 20_000, started_at + timedelta(minutes=30))
        assert await store.stop(stop, now)
        # Stored behind the services' back: what the transaction service would publish.
        server.services.bus.publish(TransactionStopped(finished, "CP-B", now, 1))
    running = await store.start(TransactionStart("CP-A", 1, "TAG", 0, now), now)
    await server.services.smart_charging.settled(SITE)

    shown = await replan(api)

    (planned,) = [s for s in shown["sessions"] if not s["expected"]]
    assert planned["transaction_id"] == running
    # No forecast from that history: the only EVs expected are the prior's (ADR 0007), at
    # most one for CP-B's free connector, needing what the EV there needs.
    expected_kwh = sum(s["energy_needed_kwh"] for s in shown["sessions"] if s["expected"])
    assert expected_kwh <= SITE_DEFAULT_KWH + 0.01
    assert planned["energy_needed_kwh"] == SITE_DEFAULT_KWH
    departure = departure_after(now, SITE_DEFAULT_DEPARTURE, ZONE)
    assert datetime.fromisoformat(planned["departure"]) == departure

    async def all_flagged() -> list[dict[str, Any]]:
        found = await alerts(api, kind="implausible_session", charge_point_id="CP-B")
        return found if found and found[0]["count"] == 3 else []

    (alert,) = await eventually(all_flagged)
    assert "left out of forecasts" in alert["message"]


# --- chargers' configuration ---------------------------------------------------------------------
async def test_a_charger_claiming_a_negative_stack_level_does_not_stop_the_site_planning(
    api: httpx.AsyncClient, ocpp_url: str, site: str
) -> None:
    async with charger(ocpp_url, "CP-A") as a, charger(ocpp_url, "CP-B") as b:
        a.configuration["ChargeProfileMaxStackLevel"] = ("-1", True)
        await start_charging(a)
        await start_charging(b)

        async def both_planned() -> bool:
            return all(profiles(cp, "TxProfile") for cp in (a, b))

        await eventually(both_planned)
        sent = profiles(a, "TxProfile")[-1]["cs_charging_profiles"]
        assert sent["stack_level"] == 0
        assert not (await replan(api))["stale"]


# --- failed replans ------------------------------------------------------------------------------
async def test_a_failed_replan_keeps_the_last_plan_stale_until_a_good_one_resolves_it(
    server: AmpNexus,
    api: httpx.AsyncClient,
    site: str,
    clock: FrozenClock,
    planner: SwitchablePlanner,
) -> None:
    """No data that passes the API makes a replan fail any more (see the tests above), so the
    planner is made to fail: what matters is what the site does about it."""
    await SqlTransactionStore(server.db).start(
        TransactionStart("CP-A", 1, "TAG", 0, clock.at), clock.at
    )
    good = await replan(api)
    assert (good["stale"], good["error"], good["failed_at"]) == (False, None, None)

    planner.error = RuntimeError("the solver is on fire")
    for _ in range(2):
        failed = await replan(api)
        assert failed["stale"] is True
        assert failed["error"] == "RuntimeError: the solver is on fire"
        assert datetime.fromisoformat(failed["failed_at"]) == clock.at
        assert failed["made_at"] == good["made_at"]
        assert what_was_planned(failed) == what_was_planned(good)
    shown = await api.get(f"/sites/{SITE}/plan")
    assert shown.status_code == 200 and shown.json()["stale"] is True
    (alert,) = await alerts(api, kind="replan_failed", site_id=SITE)
    assert (alert["open"], alert["count"], alert["severity"]) == (True, 2, "critical")
    assert "the solver is on fire" in alert["message"]

    planner.error = None
    recovered = await replan(api)
    assert (recovered["stale"], recovered["error"], recovered["failed_at"]) == (False, None, None)
    (alert,) = await alerts(api, kind="replan_failed", site_id=SITE)
    assert not alert["open"] and alert["resolved_at"] is not None
    await replan(api)  # healthy again: nothing more to resolve or raise
    assert await alerts(api, kind="replan_failed", site_id=SITE) == [alert]


@pytest.fixture
def poisoned(planner: SwitchablePlanner) -> SwitchablePlanner:
    """Failing from the start: the site's own setup replans it at once."""
    planner.error = ValueError("poisoned")
    return planner


async def test_a_site_whose_first_replan_fails_answers_503_not_500(
    poisoned: SwitchablePlanner, api: httpx.AsyncClient, site: str
) -> None:
    planner = poisoned
    for method in ("GET", "POST"):
        response = await api.request(method, f"/sites/{SITE}/plan")
        assert response.status_code == 503, response.text
        assert "ValueError: poisoned" in response.json()["detail"]
    (alert,) = await alerts(api, kind="replan_failed", site_id=SITE)
    assert alert["open"] and alert["details"]["plan_made_at"] is None
    planner.error = None
    assert (await replan(api))["stale"] is False
