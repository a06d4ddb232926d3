"""Sessions and sites in a real browser: a simulated charger's session in the list, its page
with the chart of its meter values (updating while it runs), the CSV export, the filters;
a site's plan chart against its limit, reloaded when the site is replanned."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from ampnexus.app import AmpNexus
from tests.browser.conftest import ADMIN, screenshot, sign_in
from tests.browser.test_portal_access import PHONE, axe_violations, fits_width
from tests.support.charger import charger


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def ok(response: httpx.Response) -> Any:
    assert response.status_code in (200, 201), response.text
    return response.json()


async def chart_data(page: Page, element_id: str) -> list[list[float | None]]:
    """What uPlot draws: [times, series...], read from the instance charts.js made."""
    data: list[list[float | None]] = await page.evaluate(
        "id => Array.from(document.getElementById(id)._uplot.data, a => Array.from(a))",
        element_id,
    )
    return data


@pytest.mark.settings(session_update_interval=0)  # every reading tells the page
async def test_a_session_in_the_list_on_its_page_with_its_chart_and_in_the_csv(
    server: AmpNexus, portal: str, page: Page, api: httpx.AsyncClient, tmp_path: Path
) -> None:
    await ok(await api.post("/charge-points", json={"id": "CP-WEB", "security_profile": 0}))
    site = {"id": "home", "name": "Home", "time_zone": "Europe/London", "grid_limit_kw": 40}
    await ok(await api.post("/sites", json=site))
    await ok(
        await api.post(
            "/sites/home/tariffs", json={"name": "Flat", "kind": "fixed", "import_price": 0.25}
        )
    )
    await ok(await api.put("/charge-points/CP-WEB", json={"site_id": "home"}))
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=40)
    readings = [(10, 1000, 6000), (20, 2500, 9000), (30, 4000, 9000)]  # minute, Wh, W

    async with charger(f"ws://127.0.0.1:{server.ocpp_port}/ocpp", "CP-WEB") as cp:
        await cp.boot()
        other = (await cp.start_transaction(2, "OTHER", 0, iso(start))).transaction_id
        await cp.stop_transaction(
            other, 300, "Local", None, None, iso(start + timedelta(minutes=5))
        )
        session = (await cp.start_transaction(1, "DRIVER-1", 0, iso(start))).transaction_id
        for minute, wh, watts in readings:
            await cp.meter_values(1, session, wh, watts, iso(start + timedelta(minutes=minute)))

        await sign_in(page, portal, *ADMIN)
        await (
            page.get_by_role("navigation", name="Main").get_by_role("link", name="Sessions").click()
        )
        row = page.locator(f"#session-{session}")
        await expect(row).to_have_attribute("data-active", "true")
        await expect(row.locator(".energy")).to_have_text("4.00 kWh")
        # A reading while the list is open: the running session's row follows it.
        readings.append((32, 4500, 9000))
        await cp.meter_values(1, session, 4500, 9000, iso(start + timedelta(minutes=32)))
        await expect(row.locator(".energy")).to_have_text("4.50 kWh", timeout=10_000)
        await expect(page.locator(f"#session-{other}")).to_be_visible()

        await row.get_by_role("link", name=f"#{session}").click()
        await expect(page.get_by_role("heading", name=f"Session #{session}")).to_be_visible()
        await expect(page.locator("#session-chart canvas")).to_be_visible()
        times, power, energy = await chart_data(page, "session-chart")
        assert power == [6.0, 9.0, 9.0, 9.0] and energy == [1.0, 2.5, 4.0, 4.5]
        assert times == [(start + timedelta(minutes=m)).timestamp() for m, _, _ in readings]
        await expect(page.locator(".meter-values tbody tr")).to_have_count(8)  # 2 samples each

        # A new reading while it runs: the page reloads its part and the chart redraws.
        await cp.meter_values(1, session, 5000, 7000, iso(start + timedelta(minutes=35)))
        await page.wait_for_function(
            "() => document.getElementById('session-chart')._uplot?.data[0].length === 5",
            timeout=10_000,
        )
        assert (await chart_data(page, "session-chart"))[1][-1] == 7.0
        await expect(page.locator("#session .energy")).to_contain_text("5.000 kWh")
        await screenshot(page, "session")

        await cp.stop_transaction(
            session, 5500, "EVDisconnected", None, None, iso(start + timedelta(minutes=39))
        )
        await expect(page.locator("#session")).to_have_attribute(
            "data-active", "false", timeout=10_000
        )
        await expect(page.locator("#session")).to_contain_text("EVDisconnected")

    await page.goto(f"{portal}/sessions")
    await expect(page.locator("table.sessions tbody tr")).to_have_count(2)
    await screenshot(page, "sessions")
    await page.get_by_label("Id tag").fill("DRIVER-1")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.locator("table.sessions tbody tr")).to_have_count(1)
    await expect(page.locator(f"#session-{session}")).to_have_attribute("data-active", "false")
    await page.get_by_label("Status").select_option("running")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.get_by_text("No sessions match.")).to_be_visible()
    await page.get_by_label("Status").select_option("finished")
    await page.get_by_role("button", name="Filter").click()

    async with page.expect_download() as started:
        await page.get_by_role("link", name="Export CSV").click()
    download = await started.value
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8"))))
    assert [(r["transaction_id"], r["id_tag"]) for r in rows] == [(str(session), "DRIVER-1")]
    assert (rows[0]["energy_kwh"], rows[0]["cost"]) == ("5.500", "1.3750")
    assert rows[0]["started_at"].endswith("+00:00")  # London keeps GMT in winter


async def test_a_site_with_its_plan_chart_circuits_and_tariffs(
    server: AmpNexus, portal: str, page: Page, api: httpx.AsyncClient
) -> None:
    await ok(await api.post("/charge-points", json={"id": "CP-SITE", "security_profile": 0}))
    site = {"id": "plant", "name": "Plant", "time_zone": "Europe/Paris", "grid_limit_kw": 22}
    await ok(await api.post("/sites", json=site))
    await ok(
        await api.post(
            "/sites/plant/circuits", json={"id": "main", "name": "Main board", "limit_a": 40}
        )
    )
    await ok(
        await api.post(
            "/sites/plant/circuits",
            json={"id": "garage", "parent_id": "main", "name": "Garage", "limit_kw": 11},
        )
    )
    await ok(
        await api.put("/charge-points/CP-SITE", json={"site_id": "plant", "circuit_id": "garage"})
    )
    await ok(
        await api.post(
            "/sites/plant/tariffs",
            json={
                "name": "Night and day",
                "kind": "time_of_use",
                "bands": [
                    {"start": "07:00", "end": "23:00", "import_price": 0.32},
                    {"start": "23:00", "end": "07:00", "import_price": 0.12},
                ],
            },
        )
    )

    async with charger(f"ws://127.0.0.1:{server.ocpp_port}/ocpp", "CP-SITE") as cp:
        await cp.boot()
        await cp.status(1, "Charging")
        first = (await cp.start_transaction(1, "FLEET-1", 0)).transaction_id
        await sign_in(page, portal, *ADMIN)
        await page.get_by_role("navigation", name="Main").get_by_role("link", name="Sites").click()
        await expect(page.locator("#site-plant")).to_contain_text("22.0 kW")
        await page.get_by_role("link", name="Plant").click()
        await expect(page.get_by_role("heading", name="Plant")).to_be_visible()
        await expect(page.locator("#plan-chart canvas")).to_be_visible()
        labels = await page.evaluate(
            "() => document.getElementById('plan-chart')._spec.series.map(s => s.label)"
        )
        assert f"CP-SITE/1 #{first}" in labels and "Price" in labels
        limit = labels.index("Site limit")
        data = await chart_data(page, "plan-chart")
        assert len(data[0]) > 4 and set(data[limit + 1]) == {22.0}  # the limit, every slot
        tree = page.locator(".tree")
        await expect(
            tree.locator("li", has_text="Garage").get_by_role("link", name="CP-SITE")
        ).to_be_visible()
        await expect(page.get_by_role("row", name="Night and day")).to_contain_text(
            "23:00\u201307:00: 0.12"
        )

        # A second session replans the site: the chart reloads with it, no page reload.
        await cp.status(2, "Charging")
        second = (await cp.start_transaction(2, "FLEET-2", 0)).transaction_id
        await page.wait_for_function(
            "label => document.getElementById('plan-chart')?._spec?.series"
            ".some(s => s.label === label)",
            arg=f"CP-SITE/2 #{second}",
            timeout=10_000,
        )
        await expect(page.locator("#plan-chart canvas")).to_be_visible()
        await screenshot(page, "site")


async def test_the_pages_are_accessible_and_fit_a_phone(
    server: AmpNexus, portal: str, page: Page, api: httpx.AsyncClient
) -> None:
    await ok(await api.post("/charge-points", json={"id": "CP-A11Y", "security_profile": 0}))
    site = {"id": "depot", "name": "Depot", "time_zone": "Europe/London", "grid_limit_kw": 40}
    await ok(await api.post("/sites", json=site))
    await ok(await api.post("/sites/depot/circuits", json={"id": "main", "limit_a": 63}))
    await ok(
        await api.put("/charge-points/CP-A11Y", json={"site_id": "depot", "circuit_id": "main"})
    )
    tariff = {"name": "Flat", "kind": "fixed", "import_price": 0.25}
    await ok(await api.post("/sites/depot/tariffs", json=tariff))
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    async with charger(f"ws://127.0.0.1:{server.ocpp_port}/ocpp", "CP-A11Y") as cp:
        await cp.boot()
        await cp.status(1, "Charging")
        tx = (await cp.start_transaction(1, "A11Y", 0, iso(start))).transaction_id
        for minute in (10, 20, 30):
            await cp.meter_values(1, tx, minute * 100, 6000, iso(start + timedelta(minutes=minute)))
        await sign_in(page, portal, *ADMIN)
        await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
        for path in ("/sessions", f"/sessions/{tx}", "/sites", "/sites/depot", "/sessions?to=x"):
            for viewport in ({"width": 1200, "height": 800}, PHONE):
                await page.set_viewport_size(viewport)
                await page.goto(f"{portal}{path}")
                assert await axe_violations(page) == [], (path, viewport)
                assert await fits_width(page), (path, viewport)
        await screenshot(page, "phone-sessions-bad-filter")
