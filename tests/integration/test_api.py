"""The REST API through a real HTTP server (uvicorn on a socket), on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from ocpp.v16 import call

from ampnexus.app import AmpNexus
from tests.conftest import PASSWORD
from tests.support.charger import charger

OTHER_PASSWORD = "another-long-secret-0123"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@pytest.fixture
async def anonymous(server: AmpNexus) -> AsyncIterator[httpx.AsyncClient]:
    """A client that sends no API key."""
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{server.http_port}/api/v1", timeout=10
    ) as client:
        yield client


def assert_error(response: httpx.Response, status: int, *words: str) -> str:
    """A JSON error with a non-empty `detail` string that mentions every word."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    detail = response.json()["detail"]
    assert isinstance(detail, str), detail
    assert detail.strip(), response.text
    for word in words:
        assert word.lower() in detail.lower(), detail
    return detail


# --- authentication ---------------------------------------------------------------------------
SECURED_ROUTES = [
    ("GET", "/charge-points", None),
    ("POST", "/charge-points", {"id": "CP-AUTH", "security_profile": 0}),
    ("GET", "/charge-points/CP-1", None),
    ("PATCH", "/charge-points/CP-1", {"description": "x"}),
    ("DELETE", "/charge-points/CP-1", None),
    ("POST", "/charge-points/CP-1/reset", {"type": "Soft"}),
    ("GET", "/charge-points/CP-1/configuration", None),
    ("GET", "/transactions", None),
    ("GET", "/transactions/1", None),
    ("GET", "/id-tags", None),
    ("POST", "/id-tags", {"id_tag": "TAG-AUTH"}),
    ("GET", "/api-keys", None),
    ("POST", "/api-keys", {"name": "sneaky"}),
    ("DELETE", "/api-keys/1", None),
]


async def assert_all_unauthorized(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    for method, path, body in SECURED_ROUTES:
        response = await client.request(method, path, json=body, headers=headers)
        assert_error(response, 401)
        assert response.headers.get("www-authenticate") == "Bearer", (method, path)


async def test_no_key_is_401(anonymous: httpx.AsyncClient, api: httpx.AsyncClient, registered):
    await assert_all_unauthorized(anonymous, {})
    detail = assert_error(await anonymous.get("/charge-points"), 401)
    assert "Bearer" in detail
    # Nothing was changed by the refused requests.
    assert (await api.get("/charge-points/CP-1")).json()["description"] is None
    assert (await api.get("/charge-points/CP-AUTH")).status_code == 404
    assert (await api.get("/id-tags/TAG-AUTH")).status_code == 404
    assert [k["name"] for k in (await api.get("/api-keys")).json()] == ["tests"]


async def test_bogus_key_is_401(anonymous: httpx.AsyncClient, registered):
    await assert_all_unauthorized(anonymous, {"Authorization": "Bearer anx_not-a-real-key"})
    await assert_all_unauthorized(anonymous, {"Authorization": "Basic dXNlcjpwYXNz"})


async def test_revoked_key_is_401(anonymous: httpx.AsyncClient, api: httpx.AsyncClient):
    created = await api.post("/api-keys", json={"name": "temporary"})
    assert created.status_code == 201, created.text
    key = created.json()
    auth = {"Authorization": f"Bearer {key['key']}"}
    assert (await anonymous.get("/charge-points", headers=auth)).status_code == 200

    revoked = await api.delete(f"/api-keys/{key['id']}")
    assert revoked.status_code == 204, revoked.text

    await assert_all_unauthorized(anonymous, auth)
    # The key that revoked it still works.
    assert (await api.get("/charge-points")).status_code == 200


async def test_health_needs_no_key(anonymous: httpx.AsyncClient):
    response = await anonymous.get("/health")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert body["version"]


# --- 404 ----------------------------------------------------------------------------------------
async def test_unknown_resources_are_404(api: httpx.AsyncClient):
    assert_error(await api.get("/charge-points/NOPE"), 404, "NOPE")
    assert_error(await api.patch("/charge-points/NOPE", json={"description": "x"}), 404, "NOPE")
    assert_error(await api.delete("/charge-points/NOPE"), 404, "NOPE")
    assert_error(await api.get("/charge-points/NOPE/status-history"), 404, "NOPE")
    assert_error(await api.get("/id-tags/NO-SUCH-TAG"), 404, "NO-SUCH-TAG")
    assert_error(await api.patch("/id-tags/NO-SUCH-TAG", json={"status": "Blocked"}), 404)
    assert_error(await api.delete("/id-tags/NO-SUCH-TAG"), 404)
    assert_error(await api.get("/transactions/987654"), 404, "987654")
    assert_error(await api.delete("/api-keys/987654"), 404, "987654")


COMMANDS = [
    ("POST", "remote-start", {"id_tag": "TAG-1"}),
    ("POST", "remote-stop", {"transaction_id": 1}),
    ("POST", "reset", {"type": "Soft"}),
    ("POST", "unlock", {"connector_id": 1}),
    ("POST", "availability", {"connector_id": 0, "type": "Inoperative"}),
    ("POST", "clear-cache", None),
    ("POST", "data-transfer", {"vendor_id": "com.example"}),
    ("GET", "configuration", None),
    ("PUT", "configuration", {"key": "HeartbeatInterval", "value": "60"}),
]


async def test_commands_to_an_unknown_charger_are_404(api: httpx.AsyncClient):
    for method, command, body in COMMANDS:
        response = await api.request(method, f"/charge-points/NOPE/{command}", json=body)
        assert_error(response, 404, "NOPE")


async def test_commands_to_a_disconnected_charger_are_409(api: httpx.AsyncClient, registered):
    for method, command, body in COMMANDS:
        response = await api.request(method, f"/charge-points/{registered}/{command}", json=body)
        assert_error(response, 409)


async def test_a_command_reaches_a_connected_charger(
    api: httpx.AsyncClient, ocpp_url: str, registered: str
):
    async with charger(ocpp_url, registered, PASSWORD) as cp:
        await cp.boot()
        response = await api.post(f"/charge-points/{registered}/reset", json={"type": "Hard"})
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "Accepted"
        assert await cp.wait_for("Reset") == {"type": "Hard"}


# --- 409 ----------------------------------------------------------------------------------------
async def test_duplicates_are_409(api: httpx.AsyncClient, registered: str):
    again = await api.post("/charge-points", json={"id": registered, "security_profile": 0})
    assert_error(again, 409, registered)
    # The first registration is untouched: still profile 1.
    assert (await api.get(f"/charge-points/{registered}")).json()["security_profile"] == 1

    first = await api.post("/id-tags", json={"id_tag": "TAG-DUP"})
    assert first.status_code == 201, first.text
    assert_error(await api.post("/id-tags", json={"id_tag": "TAG-DUP", "status": "Blocked"}), 409)
    assert (await api.get("/id-tags/TAG-DUP")).json()["status"] == "Accepted"


# --- 422 ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"id": "CP-X", "password": "too-short"}, ["password", "16"]),
        ({"id": "CP-X", "password": "x" * 41}, ["password", "40"]),
        ({"id": "CP/X", "security_profile": 0}, ["charge point id"]),
        ({"id": "CP X", "security_profile": 0}, ["charge point id"]),
        ({"id": "", "security_profile": 0}, ["id"]),
        ({"id": "CP-X", "security_profile": 0, "password": PASSWORD}, ["profile 0"]),
        ({"id": "CP-X", "security_profile": 1}, ["password"]),
        ({"id": "CP-X"}, ["password"]),
        ({"id": "CP-X", "security_profile": 4, "password": PASSWORD}, ["security_profile"]),
        ({"id": "CP-X", "security_profile": 3, "password": PASSWORD}, ["profile 3", "no password"]),
        ({"id": "CP-X", "password": PASSWORD, "colour": "red"}, ["colour"]),
    ],
)
async def test_invalid_charge_point_is_422(api: httpx.AsyncClient, body: dict, words: list[str]):
    assert_error(await api.post("/charge-points", json=body), 422, *words)
    assert (await api.get("/charge-points")).json()["total"] == 0


async def test_invalid_json_is_422(api: httpx.AsyncClient):
    response = await api.post(
        "/charge-points", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_error(response, 422)


@pytest.mark.parametrize(
    ("method", "command", "body", "words"),
    [
        ("POST", "remote-start", {"id_tag": "T" * 21}, ["id_tag", "20"]),
        ("POST", "remote-start", {"id_tag": ""}, ["id_tag"]),
        ("POST", "remote-start", {"id_tag": "TAG", "connector_id": 0}, ["connector_id"]),
        ("POST", "remote-start", {"id_tag": "TAG", "extra": 1}, ["extra"]),
        ("POST", "remote-stop", {}, ["transaction_id"]),
        ("POST", "reset", {"type": "Medium"}, ["type", "Hard", "Soft"]),
        ("POST", "reset", {}, ["type"]),
        ("POST", "unlock", {"connector_id": 0}, ["connector_id"]),
        ("POST", "availability", {"connector_id": 1, "type": "Broken"}, ["type"]),
        ("POST", "availability", {"connector_id": -1, "type": "Operative"}, ["connector_id"]),
        ("PUT", "configuration", {"key": "", "value": "1"}, ["key"]),
        ("POST", "data-transfer", {}, ["vendor_id"]),
    ],
)
async def test_invalid_command_is_422(
    api: httpx.AsyncClient, registered: str, method: str, command: str, body: dict, words: list
):
    response = await api.request(method, f"/charge-points/{registered}/{command}", json=body)
    assert_error(response, 422, *words)


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/charge-points?limit=0", ["limit"]),
        ("/charge-points?limit=501", ["limit"]),
        ("/charge-points?offset=-1", ["offset"]),
        ("/id-tags?limit=0", ["limit"]),
        ("/transactions?limit=0", ["limit"]),
        ("/transactions?limit=abc", ["limit"]),
        ("/transactions?active=maybe", ["active"]),
        ("/transactions/not-a-number", ["transaction_id"]),
    ],
)
async def test_invalid_query_is_422(api: httpx.AsyncClient, path: str, words: list[str]):
    assert_error(await api.get(path), 422, *words)


async def test_invalid_id_tag_is_422(api: httpx.AsyncClient):
    assert_error(await api.post("/id-tags", json={"id_tag": "T" * 21}), 422, "id_tag")
    assert_error(await api.post("/id-tags", json={"id_tag": "TAG", "status": "Maybe"}), 422)
    assert_error(await api.post("/id-tags", json={"id_tag": "TAG", "status": "ConcurrentTx"}), 422)
    assert_error(await api.post("/id-tags", json={"id_tag": "TAG", "colour": "red"}), 422)
    assert_error(await api.post("/api-keys", json={"name": ""}), 422, "name")
    assert (await api.get("/id-tags")).json()["total"] == 0


async def test_out_of_range_numbers_are_422_not_500(api: httpx.AsyncClient, registered: str):
    huge = 10**20
    assert_error(await api.get("/transactions/3000000000"), 422, "transaction_id")
    assert_error(await api.get(f"/transactions/{huge}"), 422, "transaction_id")
    assert_error(await api.delete(f"/api-keys/{huge}"), 422, "key_id")
    assert_error(await api.get("/charge-points", params={"offset": huge}), 422, "offset")
    assert_error(await api.get("/transactions", params={"offset": huge}), 422, "offset")
    for command, body in [
        ("unlock", {"connector_id": huge}),
        ("remote-stop", {"transaction_id": huge}),
        ("remote-start", {"id_tag": "TAG", "connector_id": huge}),
        ("availability", {"connector_id": huge, "type": "Operative"}),
    ]:
        response = await api.post(f"/charge-points/{registered}/{command}", json=body)
        assert_error(response, 422)


async def test_null_for_a_required_field_is_422_not_500(api: httpx.AsyncClient, registered: str):
    for field in ("security_profile", "registration_status"):
        response = await api.patch(f"/charge-points/{registered}", json={field: None})
        assert_error(response, 422, field)
    shown = (await api.get(f"/charge-points/{registered}")).json()
    assert (shown["security_profile"], shown["registration_status"]) == (1, "Accepted")

    assert (await api.post("/id-tags", json={"id_tag": "TAG-N"})).status_code == 201
    assert_error(await api.patch("/id-tags/TAG-N", json={"status": None}), 422, "status")
    assert (await api.get("/id-tags/TAG-N")).json()["status"] == "Accepted"
    # Null where it means "none" still clears the field.
    cleared = await api.patch(f"/charge-points/{registered}", json={"description": None})
    assert cleared.status_code == 200, cleared.text


async def test_naive_expiry_is_taken_as_utc(api: httpx.AsyncClient):
    created = await api.post(
        "/id-tags", json={"id_tag": "TAG-U", "expiry_date": "2031-05-01T08:00:00"}
    )
    assert created.status_code == 201, created.text
    expected = datetime(2031, 5, 1, 8, 0, tzinfo=UTC)
    assert datetime.fromisoformat(created.json()["expiry_date"]) == expected
    assert (
        datetime.fromisoformat((await api.get("/id-tags/TAG-U")).json()["expiry_date"]) == expected
    )

    patched = await api.patch("/id-tags/TAG-U", json={"expiry_date": "2032-01-01T00:00:00"})
    assert patched.status_code == 200, patched.text
    shown = (await api.get("/id-tags/TAG-U")).json()
    assert datetime.fromisoformat(shown["expiry_date"]) == datetime(2032, 1, 1, tzinfo=UTC)

    offset = await api.patch("/id-tags/TAG-U", json={"expiry_date": "2032-01-01T02:00:00+02:00"})
    assert offset.status_code == 200, offset.text
    shown = (await api.get("/id-tags/TAG-U")).json()
    assert datetime.fromisoformat(shown["expiry_date"]) == datetime(2032, 1, 1, tzinfo=UTC)


async def test_expired_id_tag_is_refused_to_a_charger(
    api: httpx.AsyncClient, ocpp_url: str, registered: str
):
    past = iso(datetime.now(UTC) - timedelta(days=1))
    created = await api.post("/id-tags", json={"id_tag": "TAG-OLD", "expiry_date": past})
    assert created.status_code == 201, created.text
    async with charger(ocpp_url, registered, PASSWORD) as cp:
        await cp.boot()
        assert (await cp.authorize("TAG-OLD")).id_tag_info["status"] == "Expired"


# --- charge points CRUD -------------------------------------------------------------------------
async def test_charge_point_crud(api: httpx.AsyncClient, ocpp_url: str):
    created = await api.post(
        "/charge-points", json={"id": "CP-B", "password": PASSWORD, "description": "Bay 2"}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["id"] == "CP-B"
    assert body["description"] == "Bay 2"
    assert body["security_profile"] == 1
    assert body["registration_status"] == "Accepted"
    assert body["connected"] is False
    assert body["connectors"] == []
    assert "password" not in body and "password_hash" not in body

    for cp_id in ("CP-C", "CP-A"):
        response = await api.post("/charge-points", json={"id": cp_id, "security_profile": 0})
        assert response.status_code == 201, response.text
        assert response.json()["security_profile"] == 0

    page = (await api.get("/charge-points")).json()
    assert page["total"] == 3
    assert page["limit"] == 50 and page["offset"] == 0
    assert [cp["id"] for cp in page["items"]] == ["CP-A", "CP-B", "CP-C"]

    first = (await api.get("/charge-points", params={"limit": 2})).json()
    assert [cp["id"] for cp in first["items"]] == ["CP-A", "CP-B"]
    assert (first["total"], first["limit"], first["offset"]) == (3, 2, 0)
    second = (await api.get("/charge-points", params={"limit": 2, "offset": 2})).json()
    assert [cp["id"] for cp in second["items"]] == ["CP-C"]
    assert (second["total"], second["limit"], second["offset"]) == (3, 2, 2)
    beyond = (await api.get("/charge-points", params={"offset": 10})).json()
    assert beyond["items"] == [] and beyond["total"] == 3

    shown = await api.get("/charge-points/CP-B")
    assert shown.status_code == 200
    assert shown.json()["description"] == "Bay 2"

    patched = await api.patch("/charge-points/CP-B", json={"description": "Bay 2, by the door"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["description"] == "Bay 2, by the door"
    assert patched.json()["security_profile"] == 1
    assert (await api.get("/charge-points/CP-B")).json()["description"] == "Bay 2, by the door"

    # A new password: the old one stops working, the new one connects.
    patched = await api.patch("/charge-points/CP-B", json={"password": OTHER_PASSWORD})
    assert patched.status_code == 200, patched.text
    assert patched.json()["description"] == "Bay 2, by the door"  # untouched
    with pytest.raises(Exception, match="401"):
        async with charger(ocpp_url, "CP-B", PASSWORD):
            pass
    async with charger(ocpp_url, "CP-B", OTHER_PASSWORD) as cp:
        assert (await cp.boot()).status == "Accepted"

    too_short = await api.patch("/charge-points/CP-B", json={"password": "short"})
    assert_error(too_short, 422, "password")
    assert_error(await api.patch("/charge-points/CP-B", json={"colour": "red"}), 422, "colour")

    deleted = await api.delete("/charge-points/CP-B")
    assert deleted.status_code == 204, deleted.text
    assert_error(await api.get("/charge-points/CP-B"), 404, "CP-B")
    assert_error(await api.delete("/charge-points/CP-B"), 404)
    after = (await api.get("/charge-points")).json()
    assert after["total"] == 2
    assert [cp["id"] for cp in after["items"]] == ["CP-A", "CP-C"]


# --- id tags CRUD -------------------------------------------------------------------------------
async def test_id_tag_crud(api: httpx.AsyncClient):
    expiry = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
    created = await api.post(
        "/id-tags",
        json={
            "id_tag": "TAG-B",
            "expiry_date": iso(expiry),
            "parent_id_tag": "FLEET-1",
            "description": "Alice",
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["id_tag"] == "TAG-B"
    assert body["status"] == "Accepted"
    assert body["parent_id_tag"] == "FLEET-1"
    assert body["description"] == "Alice"
    assert datetime.fromisoformat(body["expiry_date"]) == expiry

    for tag in ("TAG-C", "TAG-A"):
        assert (await api.post("/id-tags", json={"id_tag": tag})).status_code == 201

    page = (await api.get("/id-tags", params={"limit": 2})).json()
    assert [t["id_tag"] for t in page["items"]] == ["TAG-A", "TAG-B"]
    assert (page["total"], page["limit"], page["offset"]) == (3, 2, 0)
    rest = (await api.get("/id-tags", params={"limit": 2, "offset": 2})).json()
    assert [t["id_tag"] for t in rest["items"]] == ["TAG-C"]

    shown = (await api.get("/id-tags/TAG-B")).json()
    assert shown["description"] == "Alice"
    assert datetime.fromisoformat(shown["expiry_date"]) == expiry

    blocked = await api.patch("/id-tags/TAG-B", json={"status": "Blocked"})
    assert blocked.status_code == 200, blocked.text
    assert blocked.json()["status"] == "Blocked"
    assert blocked.json()["description"] == "Alice"  # untouched
    shown = (await api.get("/id-tags/TAG-B")).json()
    assert shown["status"] == "Blocked"
    assert shown["parent_id_tag"] == "FLEET-1"
    assert_error(await api.patch("/id-tags/TAG-B", json={"status": "Sometimes"}), 422, "status")

    deleted = await api.delete("/id-tags/TAG-B")
    assert deleted.status_code == 204, deleted.text
    assert_error(await api.get("/id-tags/TAG-B"), 404, "TAG-B")
    assert (await api.get("/id-tags")).json()["total"] == 2


async def test_blocked_id_tag_is_refused_to_a_charger(
    api: httpx.AsyncClient, ocpp_url: str, registered: str
):
    assert (await api.post("/id-tags", json={"id_tag": "TAG-Z"})).status_code == 201
    async with charger(ocpp_url, registered, PASSWORD) as cp:
        await cp.boot()
        assert (await cp.authorize("TAG-Z")).id_tag_info["status"] == "Accepted"
        assert (await api.patch("/id-tags/TAG-Z", json={"status": "Blocked"})).status_code == 200
        assert (await cp.authorize("TAG-Z")).id_tag_info["status"] == "Blocked"


# --- API keys -----------------------------------------------------------------------------------
async def test_api_keys_through_the_api(api: httpx.AsyncClient, anonymous: httpx.AsyncClient):
    created = await api.post("/api-keys", json={"name": "dashboard", "scope": "admin"})
    assert created.status_code == 201, created.text
    key = created.json()
    assert key["name"] == "dashboard"
    assert key["scope"] == "admin"
    assert key["active"] is True
    assert key["revoked_at"] is None
    assert key["key"].startswith(key["prefix"])
    assert len(key["key"]) > len(key["prefix"]) + 20

    listed = (await api.get("/api-keys")).json()
    assert [k["name"] for k in listed] == ["tests", "dashboard"]
    assert all("key" not in k and "digest" not in k for k in listed)
    mine = next(k for k in listed if k["id"] == key["id"])
    assert mine["prefix"] == key["prefix"] and mine["active"] is True

    auth = {"Authorization": f"Bearer {key['key']}"}
    assert (await anonymous.get("/api-keys", headers=auth)).status_code == 200

    assert (await api.delete(f"/api-keys/{key['id']}")).status_code == 204
    listed = {k["id"]: k for k in (await api.get("/api-keys")).json()}
    assert listed[key["id"]]["active"] is False
    assert listed[key["id"]]["revoked_at"] is not None
    assert sum(k["active"] for k in listed.values()) == 1
    assert_error(await api.delete(f"/api-keys/{key['id']}"), 404)  # already revoked
    assert_error(await anonymous.get("/api-keys", headers=auth), 401)


# --- OpenAPI and docs ---------------------------------------------------------------------------
FIXED_PATHS = [
    "/api/v1/charge-points",
    "/api/v1/charge-points/{charge_point_id}",
    "/api/v1/charge-points/{charge_point_id}/remote-start",
    "/api/v1/charge-points/{charge_point_id}/remote-stop",
    "/api/v1/charge-points/{charge_point_id}/reset",
    "/api/v1/charge-points/{charge_point_id}/unlock",
    "/api/v1/charge-points/{charge_point_id}/availability",
    "/api/v1/charge-points/{charge_point_id}/clear-cache",
    "/api/v1/charge-points/{charge_point_id}/data-transfer",
    "/api/v1/charge-points/{charge_point_id}/configuration",
    "/api/v1/transactions",
    "/api/v1/transactions/{transaction_id}",
    "/api/v1/id-tags",
    "/api/v1/id-tags/{id_tag}",
    "/api/v1/api-keys",
    "/api/v1/health",
]


async def test_openapi_lists_the_routes_and_bearer_security(anonymous: httpx.AsyncClient):
    response = await anonymous.get("/openapi.json")
    assert response.status_code == 200, response.text
    spec = response.json()
    paths = spec["paths"]
    missing = [path for path in FIXED_PATHS if path not in paths]
    assert not missing, sorted(paths)
    assert set(paths["/api/v1/charge-points"]) >= {"get", "post"}
    assert set(paths["/api/v1/charge-points/{charge_point_id}"]) >= {"get", "patch", "delete"}
    assert set(paths["/api/v1/charge-points/{charge_point_id}/configuration"]) >= {"get", "put"}

    schemes = spec["components"]["securitySchemes"]
    bearer = [
        name
        for name, scheme in schemes.items()
        if scheme.get("type") == "http" and scheme.get("scheme", "").lower() == "bearer"
    ]
    assert bearer, schemes
    for path, operations in paths.items():
        for method, operation in operations.items():
            names = {name for entry in operation.get("security", []) for name in entry}
            if path == "/api/v1/health":
                assert not names, (method, path)
            else:
                assert names & set(bearer), (method, path)


ABSOLUTE_URL = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url\(["']?([^)"']+)""", re.I)


async def test_docs_are_served_offline(anonymous: httpx.AsyncClient, server: AmpNexus):
    response = await anonymous.get("/docs")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "SwaggerUIBundle" in html
    assert not re.search(r"https?://", html), "the docs page must not load anything remote"

    references = [a or b for a, b in ABSOLUTE_URL.findall(html)]
    scripts = re.findall(r"<script[^>]+src=[\"']([^\"']+)", html)
    styles = re.findall(r"<link[^>]+stylesheet[^>]+href=[\"']([^\"']+)", html)
    assert scripts and styles, html
    origin = f"http://127.0.0.1:{server.http_port}"
    async with httpx.AsyncClient(base_url=origin, timeout=10) as raw:
        for reference in references:
            parts = urlsplit(reference)
            assert not parts.scheme and not parts.netloc, reference
            asset = await raw.get(reference)
            assert asset.status_code == 200, reference
            assert asset.content, reference
        for script in scripts:
            assert "javascript" in (await raw.get(script)).headers["content-type"]
        for style in styles:
            assert "css" in (await raw.get(style)).headers["content-type"]
        # The spec the page loads is the one we serve, on the same host.
        spec_url = re.search(r"url:\s*'([^']+)'", html)
        assert spec_url and spec_url.group(1) == "/api/v1/openapi.json"
        assert (await raw.get(spec_url.group(1))).status_code == 200
        # The root is the portal: a browser not signed in is sent to its sign-in page.
        root = await raw.get("/")
        assert root.status_code == 303, root.text
        assert root.headers["location"] == "/login?next=/"


# --- transactions -------------------------------------------------------------------------------
async def test_transactions_filtering(api: httpx.AsyncClient, ocpp_url: str, registered: str):
    other = await api.post("/charge-points", json={"id": "CP-2", "security_profile": 0})
    assert other.status_code == 201, other.text
    assert (await api.post("/id-tags", json={"id_tag": "TAG-1"})).status_code == 201

    async with (
        charger(ocpp_url, registered, PASSWORD) as one,
        charger(ocpp_url, "CP-2") as two,
    ):
        await one.boot()
        await two.boot()
        finished = (await one.start_transaction(1, "TAG-1", meter_start=100)).transaction_id
        await one.stop_transaction(finished, meter_stop=2100, reason="Local")
        running_one = (await one.start_transaction(2, "TAG-1", meter_start=500)).transaction_id
        running_two = (await two.start_transaction(1, "TAG-1", meter_start=7000)).transaction_id

    async def ids(**params: object) -> tuple[list[int], int]:
        response = await api.get("/transactions", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        return [t["id"] for t in page["items"]], page["total"]

    # Newest first.
    assert await ids() == ([running_two, running_one, finished], 3)
    assert await ids(charge_point_id=registered) == ([running_one, finished], 2)
    assert await ids(charge_point_id="CP-2") == ([running_two], 1)
    assert await ids(charge_point_id="CP-NONE") == ([], 0)
    assert await ids(active="true") == ([running_two, running_one], 2)
    assert await ids(active="false") == ([finished], 1)
    assert await ids(charge_point_id=registered, active="true") == ([running_one], 1)
    assert await ids(charge_point_id="CP-2", active="false") == ([], 0)
    assert await ids(limit=1, offset=1) == ([running_one], 3)

    page = (await api.get("/transactions", params={"active": "false"})).json()
    assert (page["limit"], page["offset"]) == (50, 0)
    summary = page["items"][0]
    assert summary["charge_point_id"] == registered
    assert summary["connector_id"] == 1
    assert summary["id_tag"] == "TAG-1"
    assert summary["meter_start"] == 100
    assert summary["meter_stop"] == 2100
    assert summary["energy_wh"] == 2000
    assert summary["stop_reason"] == "Local"
    assert summary["active"] is False
    assert summary["stopped_at"] is not None
    assert "meter_values" not in summary

    running = next(
        t for t in (await api.get("/transactions")).json()["items"] if t["id"] == running_two
    )
    assert running["active"] is True
    assert running["energy_wh"] is None and running["meter_stop"] is None
    assert running["stopped_at"] is None
    assert running["meter_start"] == 7000


async def test_transaction_with_meter_values(
    api: httpx.AsyncClient, ocpp_url: str, registered: str
):
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    async with charger(ocpp_url, registered, PASSWORD) as cp:
        await cp.boot()
        started = await cp.start_transaction(1, "TAG-MV", meter_start=1000, timestamp=iso(start))
        tx = started.transaction_id
        assert started.id_tag_info["status"] == "Invalid"  # unknown tag, still recorded
        await cp.meter_values(1, tx, 1500, 7200.5, timestamp=iso(start + timedelta(minutes=1)))
        await cp.meter_values(1, tx, 2250, 7100, timestamp=iso(start + timedelta(minutes=2)))
        await cp.call(
            call.MeterValues(
                connector_id=1,
                transaction_id=tx,
                meter_value=[
                    {
                        "timestamp": iso(start + timedelta(minutes=3)),
                        "sampledValue": [
                            {"value": "229.8", "measurand": "Voltage", "phase": "L2-N"},
                            {"value": "2600"},  # every field but value defaulted
                            {
                                "value": "12.5",
                                "measurand": "Current.Import",
                                "unit": "A",
                                "phase": "L3",
                                "context": "Sample.Clock",
                                "location": "Inlet",
                            },
                        ],
                    }
                ],
            )
        )
        shown = await api.get(f"/transactions/{tx}")
        assert shown.status_code == 200, shown.text
        assert shown.json()["active"] is True
        assert shown.json()["energy_wh"] is None
        await cp.stop_transaction(tx, meter_stop=4321, reason="EVDisconnected")

    response = await api.get(f"/transactions/{tx}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == tx
    assert body["charge_point_id"] == registered
    assert body["id_tag"] == "TAG-MV"
    assert datetime.fromisoformat(body["started_at"]) == start
    assert body["meter_start"] == 1000
    assert body["meter_stop"] == 4321
    assert body["energy_wh"] == 3321
    assert body["stop_reason"] == "EVDisconnected"
    assert body["active"] is False

    readings = body["meter_values"]
    assert [datetime.fromisoformat(r["timestamp"]) for r in readings] == [
        start + timedelta(minutes=m) for m in (1, 2, 3)
    ]

    def sample(value, measurand, unit=None, phase=None, context=None, location=None):
        return {
            "value": value,
            "measurand": measurand,
            "unit": unit,
            "phase": phase,
            "context": context,
            "location": location,
            "format": None,
        }

    energy = "Energy.Active.Import.Register"
    assert readings[0]["sampled_values"] == [
        sample("1500", energy, "Wh", None, "Sample.Periodic", "Outlet"),
        sample("7200.5", "Power.Active.Import", "W", "L1"),
    ]
    assert readings[1]["sampled_values"][0]["value"] == "2250"
    assert readings[2]["sampled_values"] == [
        sample("229.8", "Voltage", "V", "L2-N"),  # OCPP's default unit filled in
        sample("2600", energy, "Wh"),
        sample("12.5", "Current.Import", "A", "L3", "Sample.Clock", "Inlet"),
    ]
