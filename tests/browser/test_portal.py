"""The portal in a real browser: sign in, watch a charger connect and change state live,
sign out; refused when signed out or with a wrong password."""

from __future__ import annotations

import httpx
from playwright.async_api import Page, expect

from ampnexus.app import AmpNexus
from ampnexus.domain.user import Role
from tests.browser.conftest import ADMIN, screenshot, sign_in
from tests.support.charger import charger


async def test_sign_in_and_watch_a_charger_connect_and_fault_live(
    server: AmpNexus, portal: str, page: Page, api: httpx.AsyncClient
) -> None:
    created = await api.post("/charge-points", json={"id": "CP-LIVE", "security_profile": 0})
    assert created.status_code == 201
    await sign_in(page, portal, *ADMIN)
    await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    row = page.locator("#cp-CP-LIVE")
    await expect(row).to_have_attribute("data-state", "offline")

    async with charger(f"ws://127.0.0.1:{server.ocpp_port}/ocpp", "CP-LIVE") as cp:
        await cp.boot()
        await cp.status(1, "Available")
        # No reload: the event stream tells the page, which refreshes its part.
        await expect(row).to_have_attribute("data-state", "available", timeout=10_000)
        await expect(row.locator("[data-connector='1']")).to_have_text("1: Available")
        await screenshot(page, "dashboard")
        await cp.status(1, "Faulted", error_code="GroundFailure")
        await expect(row).to_have_attribute("data-state", "faulted", timeout=10_000)
        await expect(page.locator(".count[data-state='faulted']")).to_have_text("1")
    await expect(row).to_have_attribute("data-state", "offline", timeout=10_000)

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await page.goto(f"{portal}/")  # the session is gone
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


async def test_signed_out_and_wrong_passwords_are_refused(
    server: AmpNexus, portal: str, page: Page
) -> None:
    await page.goto(f"{portal}/")
    await expect(page).to_have_url(f"{portal}/login?next=/")
    await screenshot(page, "sign-in")
    await sign_in(page, portal, ADMIN[0], "not the password at all")
    await expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
    await server.services.users.create("viewer@example.com", "a long viewer password", Role.VIEWER)
    await sign_in(page, portal, "viewer@example.com", "a long viewer password")
    await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    await expect(page.get_by_text("viewer@example.com")).to_be_visible()
