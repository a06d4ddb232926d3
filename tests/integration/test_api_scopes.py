"""API key scopes and the Bearer header over a real server: read, operator and admin keys on
representative routes, key management for admins only, the CLI's --scope, the migration
that keeps existing keys working, and exact `Authorization: Bearer <key>` parsing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import insert, select

from ampnexus.app import AmpNexus
from ampnexus.store.database import create_db_engine
from ampnexus.store.tables import api_keys
from tests.integration.test_api import assert_error
from tests.integration.test_durability import run_cli
from tests.support.migrations import alembic
from tests.support.raw_http import RawHttp
from tests.support.server import api_client


@contextlib.asynccontextmanager
async def client(server: AmpNexus, secret: str) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(server, secret=secret) as http:
        yield http


async def new_key(api: httpx.AsyncClient, scope: str | None) -> str:
    body = {"name": f"{scope} key"} | ({"scope": scope} if scope else {})
    created = await api.post("/api-keys", json=body)
    assert created.status_code == 201, created.text
    return str(created.json()["key"])


SITE = {"id": "depot", "name": "Depot", "time_zone": "UTC", "grid_limit_kw": 40}


# --- scopes ------------------------------------------------------------------------------------
async def test_a_read_key_reads_and_changes_nothing(
    server: AmpNexus, api: httpx.AsyncClient, registered: str
):
    async with client(server, await new_key(api, "read")) as reader:
        assert (await reader.get("/charge-points")).status_code == 200
        assert (await reader.get(f"/charge-points/{registered}")).status_code == 200
        assert (await reader.get("/sites")).status_code == 200
        assert (await reader.get("/alerts")).status_code == 200
        assert (await reader.head("/charge-points")).status_code != 403  # (405: GET only)
        for method, path, body in [
            ("POST", "/charge-points", {"id": "CP-9", "security_profile": 0}),
            ("PATCH", f"/charge-points/{registered}", {"description": "mine now"}),
            ("DELETE", f"/charge-points/{registered}", None),
            ("POST", "/sites", SITE),
            ("POST", f"/charge-points/{registered}/reset", {"type": "Hard"}),
            ("POST", "/charge-points", {}),  # refused before its body is even validated
        ]:
            response = await reader.request(method, path, json=body)
            detail = assert_error(response, 403, "operator", "read")
            assert method in detail, detail
        for method, path in [
            ("GET", "/api-keys"),
            ("POST", "/api-keys"),
            ("DELETE", "/api-keys/1"),
        ]:
            response = await reader.request(method, path, json={"name": "x", "scope": "admin"})
            assert_error(response, 403, "admin")
    # Nothing changed.
    assert (await api.get(f"/charge-points/{registered}")).json()["description"] is None
    assert (await api.get("/sites")).json()["total"] == 0
    assert len((await api.get("/api-keys")).json()) == 2


async def test_an_operator_key_runs_the_site_but_not_the_keys(
    server: AmpNexus, api: httpx.AsyncClient, registered: str
):
    async with client(server, await new_key(api, "operator")) as operator:
        assert (await operator.get("/charge-points")).status_code == 200
        created = await operator.post("/charge-points", json={"id": "CP-9", "security_profile": 0})
        assert created.status_code == 201, created.text
        patched = await operator.patch(f"/charge-points/{registered}", json={"description": "d"})
        assert patched.status_code == 200, patched.text
        assert (await operator.post("/sites", json=SITE)).status_code == 201
        assert (await operator.delete("/charge-points/CP-9")).status_code == 204
        # No way to a key of more (or any) power.
        for method, path in [
            ("GET", "/api-keys"),
            ("POST", "/api-keys"),
            ("DELETE", "/api-keys/1"),
        ]:
            response = await operator.request(method, path, json={"name": "x", "scope": "admin"})
            detail = assert_error(response, 403, "admin", "operator")
            assert "manage API keys" in detail
    assert [key["scope"] for key in (await api.get("/api-keys")).json()] == ["admin", "operator"]


async def test_an_admin_key_manages_keys_and_new_keys_default_to_read(
    server: AmpNexus, api: httpx.AsyncClient
):
    async with client(server, await new_key(api, "admin")) as admin:
        default = await admin.post("/api-keys", json={"name": "dashboard"})
        assert default.status_code == 201, default.text
        assert default.json()["scope"] == "read"  # least privilege unless asked
        listed = {key["name"]: key["scope"] for key in (await admin.get("/api-keys")).json()}
        assert listed == {"tests": "admin", "admin key": "admin", "dashboard": "read"}
        assert (await admin.delete(f"/api-keys/{default.json()['id']}")).status_code == 204
        assert (await admin.post("/sites", json=SITE)).status_code == 201
        assert_error(
            await admin.post("/api-keys", json={"name": "x", "scope": "root"}), 422, "scope"
        )


async def test_a_wrong_scope_is_refused_before_the_body_is_read(
    server: AmpNexus, api: httpx.AsyncClient
):
    secret = await new_key(api, "read")
    http = await RawHttp.open(server.http_port)
    try:
        await http.send_head(
            "POST",
            "/api/v1/sites/depot/meter",
            f"Authorization: Bearer {secret}",
            "Content-Type: application/json",
            "Content-Length: 50000000",
        )
        answer = await http.answer()  # none of the 50 MB was sent
        assert answer.status == 403
        assert "operator" in answer.json()["detail"]
    finally:
        http.close()


# --- the command line and the migration ---------------------------------------------------------
async def test_the_cli_creates_keys_of_each_scope(
    server: AmpNexus, database_url: str, tmp_path: Path
):
    async def cli(*args: str) -> str:
        done = await asyncio.to_thread(
            run_cli, "--database-url", database_url, "apikey", *args, cwd=tmp_path
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    first = (await cli("create", "--name", "first")).splitlines()
    assert "scope admin" in first[0]  # the first key must be able to make the others
    reader = (await cli("create", "--name", "wallboard", "--scope", "read")).splitlines()[-1]
    listed = await cli("list")
    assert "[admin]" in next(line for line in listed.splitlines() if "first" in line)
    assert "[read]" in next(line for line in listed.splitlines() if "wallboard" in line)

    async with client(server, first[-1]) as admin:
        assert (await admin.post("/sites", json=SITE)).status_code == 201
        assert (await admin.get("/api-keys")).status_code == 200
    async with client(server, reader) as wallboard:
        assert (await wallboard.get("/sites/depot")).status_code == 200
        assert_error(await wallboard.delete("/sites/depot"), 403, "operator")

    wrong = await asyncio.to_thread(
        run_cli, "apikey", "create", "--name", "x", "--scope", "root", cwd=tmp_path
    )
    assert wrong.returncode == 2 and "--scope" in wrong.stderr


async def test_keys_made_before_scopes_become_admin(database_url: str):
    engine = create_db_engine(database_url)
    now = datetime(2024, 5, 1, tzinfo=UTC)
    try:
        with engine.begin() as conn:
            alembic(conn, "upgrade", "0003")
            key = {"name": "old", "prefix": "anx_old", "digest": "a" * 64, "created_at": now}
            conn.execute(insert(api_keys).values(**key))
        with engine.begin() as conn:
            alembic(conn, "upgrade", "head")
            assert conn.execute(select(api_keys.c.name, api_keys.c.scope)).all() == [
                ("old", "admin")
            ]
            # A row written without a scope (no code of ours does) may only read.
            conn.execute(insert(api_keys).values(**key | {"name": "new", "digest": "b" * 64}))
            scope = select(api_keys.c.scope).where(api_keys.c.name == "new")
            assert conn.execute(scope).scalar_one() == "read"
    finally:
        engine.dispose()


# --- the Bearer header ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "header",
    [
        "Bearer  {key}",  # two spaces
        "Bearer\t{key}",
        "Bearer {key} junk",
        "Bearer {key},",
        "Bearer{key}",
        "Bearer",
    ],
)
async def test_a_malformed_bearer_header_is_401(
    server: AmpNexus, api: httpx.AsyncClient, header: str
):
    secret = api.headers["authorization"].removeprefix("Bearer ")
    async with httpx.AsyncClient(base_url=str(api.base_url), timeout=10) as anonymous:
        response = await anonymous.get(
            "/charge-points", headers={"Authorization": header.format(key=secret)}
        )
        detail = assert_error(response, 401, "one space")
        assert response.headers["www-authenticate"] == "Bearer"
        assert secret not in detail


async def test_the_bearer_scheme_is_case_insensitive_and_alone(
    server: AmpNexus, api: httpx.AsyncClient
):
    secret = api.headers["authorization"].removeprefix("Bearer ")
    async with httpx.AsyncClient(base_url=str(api.base_url), timeout=10) as anonymous:
        for scheme in ("bearer", "BEARER", "bEaReR"):
            response = await anonymous.get(
                "/api-keys", headers={"Authorization": f"{scheme} {secret}"}
            )
            assert response.status_code == 200, (scheme, response.text)
        basic = await anonymous.get(
            "/charge-points", headers={"Authorization": "Basic dXNlcjpwYXNz"}
        )
        assert_error(basic, 401, "Bearer")
        twice = httpx.Headers([("Authorization", f"Bearer {secret}")] * 2)
        assert_error(await anonymous.get("/charge-points", headers=twice), 401, "more than one")
        assert_error(await anonymous.get("/charge-points"), 401, "missing")
