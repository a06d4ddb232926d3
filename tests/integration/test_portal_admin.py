"""The administration pages over plain HTTP: who may do what (every route, found in the
app, so a route added later is covered too), CSRF, invalid input answered with the reason,
and the last admin kept."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi.routing import APIRoute

from ampnexus.app import AmpNexus
from ampnexus.domain.api_key import ApiKeyScope
from ampnexus.domain.user import Role
from ampnexus.portal.app import PAGES
from tests.support.portal import portal_client, portal_sign_in
from tests.support.server import api_client

ADMIN = ("admin@example.com", "a long admin password")
OPERATOR = ("op@example.com", "a long operator password")
VIEWER = ("viewer@example.com", "a long viewer password")
HTMX = {"HX-Request": "true"}


@pytest.fixture
async def base_url(server: AmpNexus) -> str:
    for (email, password), role in zip(
        (ADMIN, OPERATOR, VIEWER), (Role.ADMIN, Role.OPERATOR, Role.VIEWER), strict=True
    ):
        await server.services.users.create(email, password, role)
    return f"http://127.0.0.1:{server.http_port}"


async def signed_in(
    base_url: str, who: tuple[str, str]
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    async with portal_client(base_url) as client:
        answer = await portal_sign_in(client, *who)
        assert answer.status_code == 303, answer.text
        page = await client.get("/drivers")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token, page.text
        yield client, token[1]


@pytest.fixture
async def admin(base_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    async for pair in signed_in(base_url, ADMIN):
        yield pair


@pytest.fixture
async def operator(base_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    async for pair in signed_in(base_url, OPERATOR):
        yield pair


@pytest.fixture
async def viewer(base_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    async for pair in signed_in(base_url, VIEWER):
        yield pair


def portal_routes(*prefixes: str) -> list[tuple[str, str]]:
    """(method, path) of every portal route under these prefixes, path parameters filled."""
    found = []
    for module in PAGES:
        for route in module.router.routes:
            if isinstance(route, APIRoute) and route.path.startswith(prefixes):
                path = re.sub(r"\{[a-z_]+\}", "1", route.path)
                found += [(method, path) for method in sorted(route.methods)]
    return found


async def test_an_operator_is_refused_every_users_and_api_keys_route(
    server: AmpNexus, operator: tuple[httpx.AsyncClient, str]
) -> None:
    client, csrf = operator
    routes = portal_routes("/users", "/api-keys", "/fragments/users", "/fragments/api-keys")
    assert {m for m, _ in routes} == {"GET", "POST"} and len(routes) >= 10, routes
    users_before = await server.services.users.list()
    keys_before = await server.services.api_keys.list()
    fields = {"csrf": csrf, "email": "new@example.com", "password": "x" * 20, "role": "admin"}
    for method, path in routes:
        answer = await client.request(method, path, data=fields if method == "POST" else None)
        assert answer.status_code == 403, (method, path, answer.status_code)
        assert "This needs the admin role" in answer.text
    assert await server.services.users.list() == users_before
    assert await server.services.api_keys.list() == keys_before
    # The menu does not offer them either.
    page = (await client.get("/")).text
    assert 'href="/users"' not in page and 'href="/api-keys"' not in page
    assert 'href="/webhooks"' in page


async def test_a_viewer_is_refused_every_action_of_drivers_tariffs_and_webhooks(
    server: AmpNexus, viewer: tuple[httpx.AsyncClient, str]
) -> None:
    client, csrf = viewer
    routes = portal_routes("/drivers", "/tariffs", "/webhooks")
    posts = [path for method, path in routes if method == "POST"]
    assert len(posts) >= 15, posts
    fields = {"csrf": csrf, "id_tag": "SNEAKY", "status": "Accepted", "url": "http://x.example/"}
    for path in posts:
        for headers in ({}, HTMX):
            answer = await client.post(path, data=fields, headers=headers)
            assert answer.status_code == 403, (path, answer.status_code)
            assert "This needs the operator role" in answer.text
    assert (await server.services.authorization.list(10, 0)).total == 0
    assert not await server.services.webhooks.list()
    # A viewer reads drivers and tariffs, without action forms, and not webhooks at all.
    drivers = await client.get("/drivers")
    assert drivers.status_code == 200 and 'action="/drivers' not in drivers.text
    assert (await client.get("/tariffs")).status_code == 200
    assert (await client.get("/webhooks")).status_code == 403


async def test_a_change_without_the_csrf_token_is_refused_and_changes_nothing(
    server: AmpNexus, admin: tuple[httpx.AsyncClient, str]
) -> None:
    client, csrf = admin
    for token in (None, "forged", csrf[:-1]):
        fields = {"id_tag": "CARD-1", "email": "x@example.com", "password": "y" * 20}
        if token is not None:
            fields["csrf"] = token
        for path in ("/drivers/id-tags", "/users", "/api-keys"):
            answer = await client.post(path, data={**fields, "name": "k", "role": "viewer"})
            assert answer.status_code == 403, (path, token)
            assert "CSRF" in answer.text
    assert (await server.services.authorization.list(10, 0)).total == 0
    assert len(await server.services.users.list()) == 3
    assert not await server.services.api_keys.list()
    # The page's own token works, in the form or in htmx's header.
    added = await client.post("/drivers/id-tags", data={"csrf": csrf, "id_tag": "CARD-1"})
    assert added.status_code == 303 and added.headers["location"] == "/drivers"
    blocked = await client.post(
        "/drivers/id-tags/status",
        data={"id_tag": "CARD-1", "status": "Blocked"},
        headers={**HTMX, "X-CSRF-Token": csrf},
    )
    assert blocked.status_code == 200 and "Id tag CARD-1 blocked." in blocked.text
    assert blocked.headers["hx-trigger"] == "ampnexus:changed"
    assert (await server.services.authorization.get("CARD-1")).status == "Blocked"


@pytest.mark.parametrize(
    ("path", "fields", "message"),
    [
        (
            "/users",
            {"email": "not-an-email", "password": "p" * 20, "role": "viewer"},
            "'not-an-email' is not an email address",
        ),
        (
            "/users",
            {"email": "new@example.com", "password": "short", "role": "viewer"},
            "a password needs 12 to 128 characters (this one has 5)",
        ),
        (
            "/users",
            {"email": "new@example.com", "password": "p" * 20, "role": "owner"},
            "role must be one of viewer, operator, admin",
        ),
        (
            "/webhooks",
            {"url": "ftp://files.example.com/x", "events": "*"},
            "is not an http:// or https:// URL with a host",
        ),
        (
            "/webhooks",
            {"url": "https://hooks.example.com/x", "patterns": "session.begun"},
            "'session.begun' matches no event",
        ),
        ("/webhooks", {"url": "https://hooks.example.com/x"}, "name at least one event type"),
        ("/drivers/id-tags", {"id_tag": "X" * 21}, "id tag must be 1 to 20 characters"),
        (
            "/drivers/profiles",
            {"name": "Van", "max_power_kw": "fast"},
            "max power must be a number",
        ),
        (
            "/tariffs",
            {
                "site_id": "nowhere",
                "name": "T",
                "band1_start": "00:00",
                "band1_end": "00:00",
                "band1_import": "0.2",
            },
            "site 'nowhere' does not exist",
        ),
        ("/api-keys", {"name": " ", "scope": "read"}, "an API key needs a name"),
    ],
)
async def test_invalid_input_is_answered_with_its_reason(
    server: AmpNexus,
    admin: tuple[httpx.AsyncClient, str],
    path: str,
    fields: dict[str, str],
    message: str,
) -> None:
    client, csrf = admin
    users, keys = await server.services.users.list(), await server.services.api_keys.list()
    flash = await client.post(path, data={**fields, "csrf": csrf}, headers=HTMX)
    assert flash.status_code == 422 and 'role="alert"' in flash.text
    assert message in flash.text.replace("&#39;", "'"), flash.text
    plain = await client.post(path, data={**fields, "csrf": csrf})  # no JavaScript: a page
    assert plain.status_code == 422 and "<h1>Not done</h1>" in plain.text
    assert message in plain.text.replace("&#39;", "'")
    assert await server.services.users.list() == users
    assert await server.services.api_keys.list() == keys
    assert not await server.services.webhooks.list()


async def test_the_last_admin_cannot_delete_demote_or_disable_themselves(
    server: AmpNexus, admin: tuple[httpx.AsyncClient, str]
) -> None:
    client, csrf = admin
    me = await server.services.users.get(ADMIN[0])
    refusals = [
        (f"/users/{me.id}/delete", {}),
        (f"/users/{me.id}/role", {"role": "operator"}),
        (f"/users/{me.id}/disable", {}),
    ]
    for path, fields in refusals:
        answer = await client.post(path, data={**fields, "csrf": csrf}, headers=HTMX)
        assert answer.status_code == 422, path
        assert "admin@example.com is the only active admin: make another admin first" in answer.text
    assert (await server.services.users.get(me.id)).role is Role.ADMIN
    assert (await client.get("/users")).status_code == 200  # still signed in, still admin
    # With a second admin, the first may step down.
    other = await server.services.users.get(OPERATOR[0])
    promoted = await client.post(
        f"/users/{other.id}/role", data={"role": "admin", "csrf": csrf}, headers=HTMX
    )
    assert promoted.status_code == 200 and "op@example.com is now admin." in promoted.text
    demoted = await client.post(
        f"/users/{me.id}/role", data={"role": "viewer", "csrf": csrf}, headers=HTMX
    )
    assert demoted.status_code == 200
    assert (await client.get("/users")).status_code == 403  # a changed role applies at once


async def test_secrets_are_shown_once_and_keys_revoked(
    server: AmpNexus, admin: tuple[httpx.AsyncClient, str]
) -> None:
    client, csrf = admin
    created = await client.post(
        "/api-keys", data={"name": "fleet", "scope": "operator", "csrf": csrf}
    )
    assert created.status_code == 201 and "Copy it now" in created.text
    secret = re.search(r"data-secret>([^<]+)<", created.text)
    assert secret and (await server.services.api_keys.verify(secret[1])) is not None
    listed = await client.get("/api-keys")
    assert secret[1] not in listed.text and "fleet" in listed.text
    key = next(k for k in await server.services.api_keys.list() if k.name == "fleet")
    assert key.scope is ApiKeyScope.OPERATOR
    revoked = await client.post(f"/api-keys/{key.id}/revoke", data={"csrf": csrf}, headers=HTMX)
    assert revoked.status_code == 200 and await server.services.api_keys.verify(secret[1]) is None
    again = await client.post(f"/api-keys/{key.id}/revoke", data={"csrf": csrf}, headers=HTMX)
    assert again.status_code == 422 and "already revoked" in again.text
    # A webhook's secret, likewise: in the answer to its creation only.
    hook = await client.post(
        "/webhooks",
        data={"url": "https://hooks.example.com/in", "events": ["session.*"], "csrf": csrf},
        headers=HTMX,
    )
    assert hook.status_code == 201
    [made] = await server.services.webhooks.list()
    assert made.secret in hook.text and made.events == ("session.*",)
    assert made.secret not in (await client.get("/webhooks")).text
    assert made.secret not in (await client.get(f"/webhooks/{made.id}")).text
    off = await client.post(f"/webhooks/{made.id}/disable", data={"csrf": csrf}, headers=HTMX)
    assert off.status_code == 200 and not (await server.services.webhooks.get(made.id)).enabled
    gone = await client.get("/webhooks/wh_nothing")
    assert gone.status_code == 404 and "webhook wh_nothing does not exist" in gone.text


async def test_users_id_tags_profiles_and_tariffs_change_through_their_forms(
    server: AmpNexus, admin: tuple[httpx.AsyncClient, str], base_url: str
) -> None:
    client, csrf = admin

    async def act(path: str, **fields: str) -> httpx.Response:
        return await client.post(path, data={**fields, "csrf": csrf}, headers=HTMX)

    # A user disabled is signed out; enabled, given a new password, deleted.
    viewer = await server.services.users.get(VIEWER[0])
    async with portal_client(base_url) as elsewhere:
        assert (await portal_sign_in(elsewhere, *VIEWER)).status_code == 303
        assert (await act(f"/users/{viewer.id}/disable")).status_code == 200
        assert (await elsewhere.get("/drivers")).status_code == 303  # to the sign-in form
    assert not (await server.services.users.get(viewer.id)).active
    assert (await act(f"/users/{viewer.id}/enable")).status_code == 200
    short = await act(f"/users/{viewer.id}/password", password="too short")
    assert short.status_code == 422 and "a password needs 12 to 128" in short.text
    renewed = await act(f"/users/{viewer.id}/password", password="a brand new password")
    assert renewed.status_code == 200 and "has a new password" in renewed.text
    async with portal_client(base_url) as elsewhere:
        assert (
            await portal_sign_in(elsewhere, VIEWER[0], "a brand new password")
        ).status_code == 303
    assert (await act(f"/users/{viewer.id}/delete")).status_code == 200
    gone = await act(f"/users/{viewer.id}/delete")
    assert gone.status_code == 422 and f"no user {viewer.id}" in gone.text

    # Id tags and a driver profile: bind, unbind, delete.
    for tag in ("CARD-A", "CARD-B"):
        assert (
            await act("/drivers/id-tags", id_tag=tag, expiry_date="2031-01-02T03:04")
        ).status_code == 200
    assert (await server.services.authorization.get("CARD-A")).expiry_date is not None
    twice = await act("/drivers/id-tags", id_tag="card-a")
    assert twice.status_code == 422 and "already exists" in twice.text
    made = await act("/drivers/profiles", name="Van", priority="premium", id_tags="CARD-A")
    assert made.status_code == 200
    [profile] = (await server.services.drivers.list(10, 0)).items
    assert profile.id_tags == ("CARD-A",) and profile.priority == "premium"
    assert (await act(f"/drivers/profiles/{profile.id}/bind", id_tag="CARD-B")).status_code == 200
    assert (await server.services.drivers.get(profile.id or 0)).id_tags == ("CARD-A", "CARD-B")
    page = await client.get("/fragments/drivers")
    assert page.status_code == 200 and "Van" in page.text and "2031-01-02 03:04" in page.text
    assert (await act(f"/drivers/profiles/{profile.id}/unbind", id_tag="CARD-A")).status_code == 200
    assert (await act("/drivers/id-tags/delete", id_tag="CARD-B")).status_code == 200
    assert (await act(f"/drivers/profiles/{profile.id}/delete")).status_code == 200
    missing = await act(f"/drivers/profiles/{profile.id}/delete")
    assert missing.status_code == 422 and "does not exist" in missing.text

    # A time-of-use tariff with a flat price outside its one band, then deleted.
    site = {"id": "depot", "name": "Depot", "time_zone": "Europe/Paris"}
    async with api_client(server) as api:
        assert (await api.post("/sites", json=site)).status_code == 201
    overlap = await act(
        "/tariffs",
        site_id="depot",
        name="Peak",
        band1_start="17:00",
        band1_end="20:00",
        band1_import="0.4",
        band2_start="19:00",
        band2_end="21:00",
        band2_import="0.3",
    )
    assert overlap.status_code == 422 and "overlap" in overlap.text
    created = await act(
        "/tariffs",
        site_id="depot",
        name="Peak",
        import_price="0.2",
        band1_start="17:00",
        band1_end="20:00",
        band1_import="0.4",
        band1_days="weekdays",
    )
    assert created.status_code == 200
    [tariff] = (await server.services.tariffs.list("depot", 10, 0)).items
    assert tariff.import_price == 0.2 and len(tariff.bands) == 1
    shown = await client.get("/fragments/tariffs")
    assert "weekdays" in shown.text and "17:00" in shown.text and "in force" in shown.text
    removed = await act("/tariffs/delete", site_id="depot", tariff_id=str(tariff.id))
    assert removed.status_code == 200
    assert (await server.services.tariffs.list("depot", 10, 0)).total == 0
