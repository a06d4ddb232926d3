"""The portal over plain HTTP: cookies, CSRF, throttled sign-in, redirects, assets."""

from __future__ import annotations

import re

import httpx
import pytest

from ampnexus.app import AmpNexus
from ampnexus.domain.user import Role
from tests.support.charger import charger
from tests.support.portal import portal_client, portal_sign_in

EMAIL, PASSWORD = "op@example.com", "a long operator password"


@pytest.fixture
async def portal(server: AmpNexus) -> httpx.AsyncClient:
    await server.services.users.create(EMAIL, PASSWORD, Role.OPERATOR)
    async with portal_client(f"http://127.0.0.1:{server.http_port}") as client:
        yield client  # type: ignore[misc]


async def test_a_session_cookie_that_scripts_cannot_read_and_a_csrf_token_on_changes(
    portal: httpx.AsyncClient,
) -> None:
    signed_in = await portal_sign_in(portal, EMAIL, PASSWORD)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/"
    cookie = next(
        v
        for k, v in signed_in.headers.multi_items()
        if k == "set-cookie" and "ampnexus_session=" in v
    )
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert "secure" not in cookie.lower()  # plain HTTP here; TLS makes it Secure
    page = await portal.get("/")
    assert page.status_code == 200 and EMAIL in page.text
    # Signing out without the page's CSRF token is refused; with it, it works.
    refused = await portal.post("/logout", data={"csrf": "forged"})
    assert refused.status_code == 403
    assert (await portal.get("/")).status_code == 200  # still signed in
    token = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    out = await portal.post("/logout", data={"csrf": token})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert (await portal.get("/")).status_code == 303


async def test_the_sign_in_form_wants_its_own_token_and_throttles_guessing(
    portal: httpx.AsyncClient,
) -> None:
    forged = await portal.post("/login", data={"email": EMAIL, "password": PASSWORD, "csrf": "x"})
    assert forged.status_code == 400 and "expired" in forged.text
    for _ in range(5):
        wrong = await portal_sign_in(portal, EMAIL, "wrong password, wrong")
        assert wrong.status_code == 401 and "Wrong email or password" in wrong.text
    throttled = await portal_sign_in(portal, EMAIL, PASSWORD)  # even the right one, for now
    assert throttled.status_code == 429 and "try again" in throttled.text.lower()


async def test_redirects_stay_on_this_server_and_htmx_is_told_to_sign_in(
    portal: httpx.AsyncClient,
) -> None:
    gone = await portal.get("/fragments/dashboard", headers={"HX-Request": "true"})
    assert gone.status_code == 401 and gone.headers["hx-redirect"].startswith("/login")
    assert (await portal.get("/live")).status_code == 303
    form = await portal.get("/login", params={"next": "//evil.example/"})
    assert 'name="next" value="/"' in form.text
    assert (await portal.get("/assets/htmx.min.js")).status_code == 200
    assert (await portal.get("/assets/nothing.js")).status_code == 404


async def test_the_dashboard_shows_each_sites_energy_and_cost_today(
    server: AmpNexus, portal: httpx.AsyncClient, api: httpx.AsyncClient
) -> None:
    site = {"id": "depot", "name": "Depot", "time_zone": "UTC"}
    assert (await api.post("/sites", json=site)).status_code == 201
    tariff = {"name": "flat", "kind": "fixed", "import_price": 20}
    assert (await api.post("/sites/depot/tariffs", json=tariff)).status_code == 201
    assert (
        await api.post("/charge-points", json={"id": "CP-D", "security_profile": 0})
    ).status_code == 201
    assert (await api.put("/charge-points/CP-D", json={"site_id": "depot"})).status_code == 200
    assert (await api.post("/id-tags", json={"id_tag": "TAG-D"})).status_code == 201
    async with charger(f"ws://127.0.0.1:{server.ocpp_port}/ocpp", "CP-D") as cp:
        await cp.boot()
        started = await cp.start_transaction(1, "TAG-D", meter_start=1000)
        await cp.stop_transaction(started.transaction_id, meter_stop=6000)
    await portal_sign_in(portal, EMAIL, PASSWORD)
    board = await portal.get("/fragments/dashboard")
    today = re.search(r'<td class="today">([^<]*)</td>', board.text)
    assert today is not None and today[1] == "5.0 kWh, cost 100.00"  # 5 kWh at 20
