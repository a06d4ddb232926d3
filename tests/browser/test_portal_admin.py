"""The administration pages in a real browser: an admin adds and blocks an id tag, makes a
time-of-use tariff, subscribes a real receiver to webhooks (its secret shown once), pings
it and sees a delivery, makes a viewer; the viewer then sees no administration and no
action forms, and is refused the users page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
from playwright.async_api import Page, expect

from ampnexus.app import AmpNexus
from ampnexus.domain.id_tag import AuthorizationStatus
from ampnexus.domain.user import Role
from tests.browser.conftest import ADMIN, screenshot, sign_in
from tests.support.charger import charger
from tests.support.portal import portal_client
from tests.support.receiver import receiving, verify

VIEWER = ("viewer@example.com", "a long viewer password")


async def _submit(page: Page, summary: str, fields: dict[str, str], button: str) -> None:
    """Open a page's collapsed form, fill it in and send it."""
    await page.get_by_text(summary, exact=True).click()
    for label, value in fields.items():
        await page.get_by_label(label, exact=True).fill(value)
    await page.get_by_role("button", name=button, exact=True).click()


async def _flash(page: Page, text: str | re.Pattern[str]) -> None:
    await expect(page.locator("#flash")).to_contain_text(text, timeout=10_000)


async def test_an_admin_manages_tags_tariffs_webhooks_and_users(
    server: AmpNexus, portal: str, page: Page, api: httpx.AsyncClient
) -> None:
    await _a_site_with_a_dynamic_tariff(api)
    await sign_in(page, portal, *ADMIN)
    await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    # Id tags: add one, then block it; the list reloads itself after each action.
    await page.get_by_role("link", name="Drivers").click()
    await _submit(
        page,
        "Add an id tag",
        {"Id tag": "CARD-7", "Description (optional)": "Van 7"},
        "Add id tag",
    )
    await _flash(page, "Id tag CARD-7 added (Accepted).")
    row = page.locator("tr[data-id-tag='CARD-7']")
    await expect(row.locator("[data-status]")).to_have_text("Accepted")
    await row.get_by_role("button", name="Block").click()
    await _flash(page, "Id tag CARD-7 blocked.")
    await expect(row.locator("[data-status]")).to_have_text("Blocked")
    assert (await server.services.authorization.get("CARD-7")).status is AuthorizationStatus.BLOCKED
    await _submit(
        page,
        "Create a driver profile",
        {
            "Name": "Fleet van 7",
            "Max power (kW, optional)": "7.4",
            "Id tags (comma separated, optional)": "CARD-7",
        },
        "Create profile",
    )
    await _flash(page, "Driver profile Fleet van 7 created.")
    await expect(row).to_contain_text("Fleet van 7")
    await expect(page.locator("tr[data-profile]")).to_contain_text("7.4 kW")
    await screenshot(page, "drivers")

    # A time-of-use tariff whose bands cover the whole week.
    await page.get_by_role("link", name="Tariffs").click()
    await page.get_by_text("Create a time-of-use tariff", exact=True).click()
    await page.get_by_label("Name", exact=True).fill("Night and day")
    for n, (start, end, price) in enumerate(
        [("00:00", "07:00", "0.12"), ("07:00", "00:00", "0.31")], 1
    ):
        await page.get_by_label(f"Band {n} from").fill(start)
        await page.get_by_label(f"Band {n} to", exact=True).fill(end)
        await page.get_by_label(f"Band {n} price", exact=True).fill(price)
    await page.get_by_role("button", name="Create tariff").click()
    await _flash(page, "Tariff Night and day created for site depot.")
    tariff = page.locator("article.tariff", has_text="Night and day")
    await expect(tariff.locator("tbody tr")).to_have_count(2)
    await expect(tariff).to_contain_text("0.31")
    await expect(page.locator("article.tariff", has_text="Agile")).to_contain_text(
        "Prices of the next 24 hours"
    )
    await screenshot(page, "tariffs")

    async with receiving() as receiver:
        # A webhook: its secret is shown once, then never again.
        await page.get_by_role("link", name="Webhooks").click()
        await page.get_by_label("URL (http:// or https://)").fill(receiver.url)
        await page.get_by_label("every event (*)").check()
        await page.get_by_role("button", name="Create webhook").click()
        secret = await page.locator("#flash [data-secret]").inner_text(timeout=10_000)
        assert secret.startswith("whsec_")
        await _flash(page, "Copy it now")
        await expect(page.locator("tr[data-webhook]")).to_have_count(1)
        hook = (await server.services.webhooks.list())[0]
        assert hook.secret == secret and hook.url == receiver.url
        await screenshot(page, "webhooks")  # with the secret, as it is shown this once
        await page.reload()
        assert secret not in await page.content()

        # Ping: what the receiver answered is flashed, and it got a signed ping.
        await page.get_by_role("button", name=f"Ping {receiver.url}").click()
        await _flash(page, re.compile(r"Ping delivered: the receiver answered 200 in \d+ ms"))
        [pinged] = await receiver.wait_for(1, "webhook.ping")
        assert pinged["data"]["webhook_id"] == hook.id
        assert verify(
            secret, receiver.received[0].headers["ampnexus-signature"], receiver.received[0].body
        )

        # A real event: the delivery shows in the webhook's log, delivered.
        created = await api.post("/charge-points", json={"id": "CP-HOOK", "security_profile": 0})
        assert created.status_code == 201
        async with charger(f"ws://127.0.0.1:{server.ocpp_port}/ocpp", "CP-HOOK") as cp:
            await cp.boot()
            await receiver.wait_for(1, "charge_point.connected")
        await page.get_by_role("link", name=receiver.url).click()
        await expect(page.get_by_role("heading", name=re.compile("Webhook"))).to_be_visible()
        delivered = page.locator("tr[data-delivery]", has_text="charge_point.connected")
        await expect(delivered).to_have_attribute("data-status", "delivered", timeout=10_000)
        await expect(delivered).to_contain_text("200")
        await screenshot(page, "webhook")
        await delivered.get_by_role("button", name=re.compile("Redeliver")).click()
        await _flash(page, re.compile(r"queued again as delivery \d+"))
        await receiver.wait_for(2, "charge_point.connected")

    # Users: a viewer.
    await page.get_by_role("link", name="Users").click()
    await _submit(
        page,
        "Create a user",
        {"Email": VIEWER[0], "Password (12 to 128 characters)": VIEWER[1]},
        "Create user",
    )
    await _flash(page, f"User {VIEWER[0]} created (viewer).")
    await expect(page.locator(f"tr[data-user='{VIEWER[0]}'] select")).to_have_value("viewer")
    assert (await server.services.users.get(VIEWER[0])).role is Role.VIEWER
    await screenshot(page, "users")

    # An API key, shown once; it works on the API.
    await page.get_by_role("link", name="API keys").click()
    await _submit(
        page, "Create an API key", {"Name (who or what uses it)": "fleet"}, "Create API key"
    )
    key = await page.locator("#flash [data-secret]").inner_text(timeout=10_000)
    await expect(page.locator("tr[data-key]", has_text="fleet")).to_contain_text(key[:12])
    async with portal_client(portal) as client:
        answer = await client.get("/api/v1/id-tags", headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code == 200, answer.text
    await screenshot(page, "api-keys")

    # The viewer: no administration in the menu, refused the users page, no action forms.
    await page.get_by_role("button", name="Sign out").click()
    await sign_in(page, portal, *VIEWER)
    await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    menu = page.get_by_role("navigation", name="Main")
    await expect(menu.get_by_role("link", name="Drivers")).to_be_visible()
    for hidden in ("Users", "API keys", "Webhooks"):
        await expect(menu.get_by_role("link", name=hidden)).to_have_count(0)
    refused = await page.goto(f"{portal}/users")
    assert refused is not None and refused.status == 403
    await expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    await page.goto(f"{portal}/drivers")
    await expect(page.locator("tr[data-id-tag='CARD-7'] [data-status]")).to_have_text("Blocked")
    await expect(page.locator("main form")).to_have_count(0)
    await expect(page.get_by_role("button", name="Block")).to_have_count(0)

    # Signed out: the users page sends to the sign-in form, and back after it.
    await page.get_by_role("button", name="Sign out").click()
    await page.goto(f"{portal}/users")
    await expect(page).to_have_url(f"{portal}/login?next=/users")


async def _a_site_with_a_dynamic_tariff(api: httpx.AsyncClient) -> None:
    site = {"id": "depot", "name": "Depot", "time_zone": "Europe/London", "grid_limit_kw": 50}
    assert (await api.post("/sites", json=site)).status_code == 201
    tariff = await api.post("/sites/depot/tariffs", json={"name": "Agile", "kind": "dynamic"})
    assert tariff.status_code == 201, tariff.text
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    prices = [
        {
            "start": (start + timedelta(minutes=30 * i)).isoformat(),
            "end": (start + timedelta(minutes=30 * (i + 1))).isoformat(),
            "import_price": round(15 + 10 * (i % 6) / 5, 2),
        }
        for i in range(8)
    ]
    stored = await api.post(f"/sites/depot/tariffs/{tariff.json()['id']}/prices", json=prices)
    assert stored.status_code == 201, stored.text
