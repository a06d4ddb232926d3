"""A charger's page in a real browser, as an operator works from it: change its charging
mode, start a session remotely and watch it appear live, stop it; accept a charger that
connected unannounced from the list."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Page, expect

from ampnexus.app import AmpNexus
from ampnexus.domain.charge_point import RegistrationStatus
from ampnexus.domain.charging_mode import (
    EVERY_DAY,
    ChargingMode,
    RegulationSettings,
    ScheduleSettings,
    WeeklyWindow,
)
from tests.browser.conftest import ADMIN, screenshot, sign_in
from tests.browser.test_portal_access import PHONE, axe_violations, fits_width
from tests.support.charger import charger

DASH = "\u2013"  # ranges of days and times are shown with an en dash
CP, PASSWORD, ZONE = "CP-NIGHT", "a-charger-password-16", "Europe/London"


async def set_up_site(api: httpx.AsyncClient) -> None:
    site = {"id": "depot", "name": "Depot", "time_zone": ZONE, "grid_limit_kw": 50}
    assert (await api.post("/sites", json=site)).status_code == 201
    created = await api.post("/charge-points", json={"id": CP, "password": PASSWORD})
    assert created.status_code == 201
    placed = await api.put(f"/charge-points/{CP}", json={"site_id": "depot", "max_power_w": 11000})
    assert placed.status_code == 200, placed.text


def window_outside_now() -> tuple[str, str]:
    """A one-hour window two hours from now (site-local): a session now waits for it."""
    start = (datetime.now(UTC).astimezone(ZoneInfo(ZONE)) + timedelta(hours=2)).replace(minute=0)
    return start.strftime("%H:%M"), (start + timedelta(hours=1)).strftime("%H:%M")


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def choose_mode(page: Page, label: str) -> None:
    panel = page.locator("#mode-form-panel")
    if await panel.get_attribute("open") is None:
        await panel.locator("summary").click()
    await page.get_by_role("radio", name=label).check()


@pytest.mark.settings(session_update_interval=0)
async def test_an_operator_changes_the_mode_and_starts_and_stops_a_session(
    server: AmpNexus, portal: str, page: Page, api: httpx.AsyncClient
) -> None:
    await set_up_site(api)
    async with charger(f"ws://127.0.0.1:{server.ocpp_port}/ocpp", CP, PASSWORD) as cp:
        await cp.boot(vendor="Acme", model="Night-22")
        await cp.status(1, "Available")
        await cp.status(2, "Available")
        await sign_in(page, portal, *ADMIN)
        await page.goto(f"{portal}/charge-points/{CP}")
        await expect(page.get_by_role("heading", name=f"Charger {CP}")).to_be_visible()
        await expect(page.locator("#connector-1")).to_have_attribute("data-status", "Available")
        mode = page.locator("#effective-mode")
        await expect(mode).to_have_attribute("data-source", "default")

        # Regulation compliance: an extra Saturday peak window and a 15-minute delay.
        await choose_mode(page, "Regulation compliance")
        await page.locator("input[name=peak2_days][value=sat]").check()
        await page.get_by_label("Peak window 3 start").fill("18:00")
        await page.get_by_label("Peak window 3 end").fill("20:00")
        await page.get_by_label("Maximum random delay (seconds, 0 to 1800)").fill("900")
        await page.get_by_role("button", name="Save mode").click()
        await expect(page.locator("#flash")).to_contain_text("regulation compliance (charger)")
        await expect(mode).to_have_attribute("data-mode", "regulation_compliance")
        await expect(mode).to_have_attribute("data-source", "charger")
        await expect(mode).to_contain_text(f"sat 18:00{DASH}20:00")
        await expect(mode).to_contain_text("random delay up to 900 s")
        stored = await server.services.modes.effective(CP)
        assert isinstance(stored.settings, RegulationSettings)
        assert stored.settings.random_delay_max_s == 900
        assert WeeklyWindow(frozenset({5}), time(18), time(20)) in stored.settings.peak_windows
        assert len(stored.settings.peak_windows) == 3  # the two defaults kept

        # Schedule: one window, every day, that opens later than now.
        start, end = window_outside_now()
        await choose_mode(page, "Schedule")
        for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"):
            await page.locator(f"input[name=window0_days][value={day}]").check()
        await page.get_by_label("Schedule window 1 start").fill(start)
        await page.get_by_label("Schedule window 1 end").fill(end)
        await page.get_by_role("button", name="Save mode").click()
        await expect(mode).to_have_attribute("data-mode", "schedule")
        await expect(mode).to_contain_text(f"every day {start}{DASH}{end}")
        shown = (await api.get(f"/charge-points/{CP}/mode")).json()
        assert shown["mode"] == "schedule" and shown["source"] == "charger"
        assert shown["windows"] == [
            {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": start, "end": end}
        ]
        stored = await server.services.modes.effective(CP)
        assert isinstance(stored.settings, ScheduleSettings)
        assert stored.settings.windows[0].days == EVERY_DAY
        await page.locator("#cp-mode summary").click()
        await expect(page.locator("#mode-history tbody tr")).to_have_count(2)

        # Remote start: the charger accepts, then starts its transaction like a real one.
        await page.get_by_label("Connector", exact=True).first.select_option("1")
        await page.get_by_label("Id tag").fill("TAG-NIGHT")
        await page.get_by_role("button", name="Start", exact=True).click()
        await expect(page.locator("#flash")).to_have_text(f"Remote start: {CP} answered Accepted.")
        asked = await cp.wait_for("RemoteStartTransaction")
        assert asked == {"id_tag": "TAG-NIGHT", "connector_id": 1}
        await cp.status(1, "Preparing")
        began = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=10)
        started = await cp.start_transaction(1, "TAG-NIGHT", 10_000, iso(began))
        tx = started.transaction_id
        await cp.status(1, "Charging")
        for n, energy in enumerate((10_250, 10_500, 10_750), start=1):  # a reading every 2 s
            await cp.meter_values(1, tx, energy, 7400, iso(began + timedelta(seconds=2 * n)))
        session = page.locator(f"#session-{tx}")
        await expect(session).to_be_visible(timeout=10_000)
        await expect(session.get_by_role("link", name=f"#{tx}")).to_have_attribute(
            "href", f"/sessions/{tx}"
        )
        await expect(session).to_contain_text("TAG-NIGHT")
        await expect(session.locator(".energy")).to_have_text("0.75 kWh", timeout=10_000)
        started_at = (await server.services.transactions.get(tx)).started_at
        local = started_at.astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%d %H:%M:%S")
        await expect(session).to_contain_text(local)
        await expect(page.locator("#connector-1")).to_contain_text("7.40 kW")
        # Outside its schedule: the plan holds the session back, and the page says why.
        await expect(page.locator("#cp-state")).to_contain_text(
            "outside its schedule", timeout=15_000
        )
        await screenshot(page, "charge-point")
        await page.set_viewport_size({"width": 390, "height": 844})  # a phone
        await screenshot(page, "charge-point-phone")
        await page.set_viewport_size({"width": 1200, "height": 800})

        # Remote stop: the charger answers, then stops the transaction.
        await page.get_by_role("button", name=f"Stop session {tx}").click()
        await expect(page.locator("#flash")).to_have_text(f"Remote stop: {CP} answered Accepted.")
        assert (await cp.wait_for("RemoteStopTransaction")) == {"transaction_id": tx}
        await cp.stop_transaction(tx, 10_900, reason="Remote")
        await cp.status(1, "Finishing")
        await expect(session).to_have_count(0, timeout=10_000)
        await expect(page.locator("#no-sessions")).to_be_visible()
        assert not (await server.services.transactions.get(tx)).active

        # Back to the site's default mode.
        await page.get_by_role("button", name="Follow the site's default instead").click()
        await expect(mode).to_have_attribute("data-source", "default")
        assert (await server.services.modes.effective(CP)).mode is ChargingMode.SMART

        # The session it ran, on its own page: finished, with the chart of what it drew.
        await page.goto(f"{portal}/sessions/{tx}")
        await expect(page.locator("#session")).to_have_attribute("data-active", "false")
        await expect(page.locator("#session-chart canvas")).to_be_visible()
        drawn = await page.evaluate(
            "() => document.getElementById('session-chart')._uplot.data[1].length"
        )
        assert drawn >= 3  # the three readings it sent


@pytest.mark.settings(unknown_chargers="pending")
async def test_a_charger_that_connected_unannounced_is_accepted_from_the_list(
    server: AmpNexus, portal: str, page: Page, api: httpx.AsyncClient
) -> None:
    await set_up_site(api)
    async with charger(f"ws://127.0.0.1:{server.ocpp_port}/ocpp", "CP-STRANGER") as stranger:
        assert (await stranger.boot()).status == "Pending"
        await sign_in(page, portal, *ADMIN)
        await page.goto(f"{portal}/charge-points")
        await expect(page.get_by_role("heading", name="Chargers", exact=True)).to_be_visible()
        pending = page.locator("#pending-CP-STRANGER")
        await expect(pending).to_be_visible()
        await expect(page.locator("#cp-CP-STRANGER")).to_have_attribute("data-state", "pending")
        await expect(page.locator(f"#cp-{CP}")).to_have_attribute("data-state", "offline")
        await screenshot(page, "charge-points")
        await page.get_by_role("button", name="Accept CP-STRANGER").click()
        await expect(page.locator("#flash")).to_have_text("CP-STRANGER is now Accepted.")
        await expect(pending).to_have_count(0)
        await expect(page.locator("#cp-CP-STRANGER")).not_to_have_attribute("data-state", "pending")
        view = await server.services.charge_points.get("CP-STRANGER")
        assert view.charge_point.registration_status is RegistrationStatus.ACCEPTED


async def test_the_chargers_pages_are_accessible_and_fit_a_phone(
    server: AmpNexus, portal: str, page: Page, api: httpx.AsyncClient
) -> None:
    await set_up_site(api)
    async with charger(f"ws://127.0.0.1:{server.ocpp_port}/ocpp", CP, PASSWORD) as cp:
        await cp.boot()
        await cp.status(1, "Charging")
        started = await cp.start_transaction(1, "TAG-A11Y")
        await cp.meter_values(1, started.transaction_id, 1500, 7000)
        await sign_in(page, portal, *ADMIN)
        await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
        for path in ("/charge-points", f"/charge-points/{CP}"):
            for viewport in ({"width": 1200, "height": 800}, PHONE):
                await page.set_viewport_size(viewport)
                answer = await page.goto(f"{portal}{path}")
                assert answer is not None and answer.status == 200, path
                if path != "/charge-points":  # every part open, as a person would have it
                    await page.get_by_text("Change the mode").click()
                    await page.get_by_role("button", name="Read from the charger").click()
                    await expect(page.locator("#config-table")).to_be_visible()
                assert await axe_violations(page) == [], (path, viewport)
                assert await fits_width(page), (path, viewport)
        await screenshot(page, "phone-charge-point")
