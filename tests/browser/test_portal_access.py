"""Every page of the portal passes axe-core's WCAG 2 A/AA rules (the engine browsers'
own accessibility tools use, installed from npm), fits a phone's width, and is usable by
keyboard from its first Tab."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from ampnexus.app import AmpNexus
from tests.browser.conftest import ADMIN, screenshot, sign_in

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 844}
PAGES = [
    "/",
    "/sites",
    "/sites/depot",
    "/charge-points",
    "/charge-points/CP-ACCESS",
    "/sessions",
    "/drivers",
    "/tariffs",
    "/webhooks",
    "/users",
    "/api-keys",
]


@pytest.fixture
async def furnished(api: httpx.AsyncClient) -> None:
    """A site and a charger on it, so that tables and forms have rows to check."""
    site = {"id": "depot", "name": "Depot", "time_zone": "Europe/London", "grid_limit_kw": 40}
    assert (await api.post("/sites", json=site)).status_code == 201
    charger = {"id": "CP-ACCESS", "security_profile": 0}
    assert (await api.post("/charge-points", json=charger)).status_code == 201
    placed = await api.put("/charge-points/CP-ACCESS", json={"site_id": "depot"})
    assert placed.status_code == 200
    tariff = {"name": "flat", "kind": "fixed", "import_price": 24.5}
    assert (await api.post("/sites/depot/tariffs", json=tariff)).status_code == 201
    assert (await api.post("/id-tags", json={"id_tag": "CARD-1"})).status_code == 201
    hook = {"url": "http://127.0.0.1:9/hook", "events": ["session.*"]}
    assert (await api.post("/webhooks", json=hook)).status_code == 201


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    assert AXE.is_file(), "axe-core is missing: make install (npm ci)"
    await page.add_script_tag(path=str(AXE))
    result: dict[str, Any] = await page.evaluate(
        "() => axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']})"
    )
    return [
        {"id": v["id"], "help": v["help"], "nodes": [n["html"] for n in v["nodes"][:3]]}
        for v in result["violations"]
    ]


async def test_the_sign_in_page_is_accessible_on_a_phone(
    server: AmpNexus, portal: str, page: Page
) -> None:
    await page.set_viewport_size(PHONE)
    await page.goto(f"{portal}/login")
    assert await axe_violations(page) == []
    assert await fits_width(page)


@pytest.mark.usefixtures("furnished")
async def test_every_page_is_accessible_and_fits_a_phone(
    server: AmpNexus, portal: str, page: Page
) -> None:
    await sign_in(page, portal, *ADMIN)
    await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    for path in PAGES:
        for viewport in ({"width": 1200, "height": 800}, PHONE):
            await page.set_viewport_size(viewport)
            answer = await page.goto(f"{portal}{path}")
            assert answer is not None and answer.status == 200, path
            assert await axe_violations(page) == [], (path, viewport)
            assert await fits_width(page), (path, viewport)
        name = "phone" + (path.replace("/", "-") if path != "/" else "-dashboard")
        await screenshot(page, name)


async def test_the_keyboard_reaches_the_content_first(
    server: AmpNexus, portal: str, page: Page
) -> None:
    await sign_in(page, portal, *ADMIN)
    await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    await page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    await expect(skip).to_be_focused()
    await expect(skip).to_be_visible()  # shown while focused
    await page.keyboard.press("Enter")
    assert page.url.endswith("#main")
    # Focus moved past the menu: the next Tab starts in the content.
    focused = await page.evaluate("() => document.activeElement.id")
    assert focused == "main"


async def fits_width(page: Page) -> bool:
    """Nothing wider than the screen: no sideways scrolling on a phone."""
    return bool(
        await page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
    )
