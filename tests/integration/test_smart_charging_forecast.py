"""The session forecast at run time: a site's past weeks become expected sessions in its plan,
which keep room for EVs to come but never reach a charger; without history, the site's free
chargers and its recent arrivals do (ADR 0007)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from ampnexus.app import AmpNexus
from tests.conftest import test_settings as settings_for
from tests.integration import test_smart_charging as shared
from tests.integration.test_smart_charging import eventually, profiles, start_charging
from tests.support.charger import TestCharger, charger

site = shared.site  # the fixture: site S1 in London, chargers CP-A and CP-B placed on it
SITE_ZONE = ZoneInfo("Europe/London")
WEEKS, KWH, HOURS = 4, 20, 4


@pytest.fixture
def forecast_weeks() -> int:
    return WEEKS


@pytest.fixture
async def server(database_url: str, forecast_weeks: int) -> AsyncIterator[AmpNexus]:
    """The shared server, with AMPNEXUS_FORECAST_WEEKS set by the test."""
    app = AmpNexus(settings_for(database_url, forecast_weeks=forecast_weeks))
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def replay_history(cp: TestCharger, arrival: datetime, weeks: range) -> None:
    """One finished session at `arrival`'s local time on the same weekday `weeks` ago each,
    sent as a charger back online sends what it queued."""
    for back in weeks:
        started_at = arrival - timedelta(weeks=back)  # local wall clock, as drivers keep it
        started = await cp.start_transaction(1, "TAG", 1000, timestamp=iso(started_at))
        stopped_at = started_at.astimezone(UTC) + timedelta(hours=HOURS)
        await cp.stop_transaction(
            started.transaction_id, 1000 + KWH * 1000, timestamp=iso(stopped_at)
        )


def expected_of(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in plan["sessions"] if s["expected"]]


async def test_past_weeks_become_expected_sessions_that_no_charger_is_told(
    server: AmpNexus, api: httpx.AsyncClient, ocpp_url: str, site: str
) -> None:
    arrival = (datetime.now(SITE_ZONE) + timedelta(hours=2)).replace(second=0, microsecond=0)
    async with charger(ocpp_url, "CP-A") as a, charger(ocpp_url, "CP-B") as b:
        assert (await b.boot()).status == "Accepted"
        # Four weeks of history, and one five weeks ago that the forecast must not use.
        await replay_history(b, arrival, range(1, WEEKS + 2))
        transaction_id = await start_charging(a)

        async def forecast_planned() -> Any:
            plan = (await api.post(f"/sites/{site}/plan")).json()
            return plan if len(expected_of(plan)) == WEEKS else None

        plan = await eventually(forecast_planned)
        for session in expected_of(plan):
            assert session["energy_needed_kwh"] == KWH / WEEKS  # an average day
            assert session["charge_point_id"] is None and session["transaction_id"] is None
            assert len(session["power_kw"]) == len(plan["slots"])
        (real,) = [s for s in plan["sessions"] if not s["expected"]]
        assert (real["charge_point_id"], real["transaction_id"]) == ("CP-A", transaction_id)

        async def a_planned() -> bool:
            return bool(profiles(a, "TxProfile"))

        await eventually(a_planned)
        # Only the EV that is there is sent a schedule; CP-B, where the history was, gets its
        # fail-safe (TxDefaultProfile) and nothing else.
        sent_for = {p["cs_charging_profiles"]["transaction_id"] for p in profiles(a, "TxProfile")}
        assert sent_for == {transaction_id}
        assert profiles(b, "TxProfile") == []
        assert profiles(b, "TxDefaultProfile")


@pytest.mark.parametrize("forecast_weeks", [0])
async def test_forecast_weeks_zero_plans_without_expected_sessions(
    api: httpx.AsyncClient, ocpp_url: str, site: str
) -> None:
    arrival = datetime.now(SITE_ZONE) + timedelta(hours=2)
    async with charger(ocpp_url, "CP-B") as b:
        assert (await b.boot()).status == "Accepted"
        await replay_history(b, arrival, range(1, WEEKS + 1))
    plan = (await api.post(f"/sites/{site}/plan")).json()
    assert plan["sessions"] == []


@pytest.mark.parametrize("forecast_weeks", [0, WEEKS])
async def test_without_history_the_free_chargers_expect_evs_that_no_charger_is_told(
    api: httpx.AsyncClient, ocpp_url: str, site: str
) -> None:
    async with charger(ocpp_url, "CP-A") as a, charger(ocpp_url, "CP-B") as b:
        assert (await b.boot()).status == "Accepted"
        transaction_id = await start_charging(a)  # just arrived: one EV in the last hours

        async def prior_planned() -> Any:
            plan = (await api.post(f"/sites/{site}/plan")).json()
            return plan if expected_of(plan) else None

        plan = await eventually(prior_planned)
        (real,) = [s for s in plan["sessions"] if not s["expected"]]
        assert (real["charge_point_id"], real["transaction_id"]) == ("CP-A", transaction_id)
        for session in expected_of(plan):
            assert session["charge_point_id"] is None and session["transaction_id"] is None
        # At most one EV per free connector (CP-B's two), each needing what CP-A's EV needs.
        need = real["energy_needed_kwh"]
        expected_kwh = sum(s["energy_needed_kwh"] for s in expected_of(plan))
        assert 0 < expected_kwh <= 2 * need + 0.01

        async def a_planned() -> bool:
            return bool(profiles(a, "TxProfile"))

        await eventually(a_planned)
        assert profiles(b, "TxProfile") == []
