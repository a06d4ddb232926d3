"""Shared fixtures: a real AmpNexus server on real sockets, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy import make_url

from ampnexus.app import AmpNexus
from ampnexus.config import Settings
from tests.support.postgres import TemporaryPostgres
from tests.support.server import api_client, running


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The PostgreSQL server the tests use: AMPNEXUS_TEST_POSTGRES_URL if set, else a
    throwaway cluster of this test run's own (started only if a test needs it)."""
    if external := os.environ.get("AMPNEXUS_TEST_POSTGRES_URL"):
        yield external
        return
    with TemporaryPostgres() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of each kind. PostgreSQL always runs: nothing is skipped."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ampnexus.sqlite3'}"
        return
    yield from fresh_postgres_database(request.getfixturevalue("postgres_server"))


def fresh_postgres_database(server_url: str) -> Iterator[str]:
    name = f"ampnexus_test_{uuid.uuid4().hex[:12]}"
    server = make_url(server_url)
    admin = psycopg.connect(server_url, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def test_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "ocpp_port": 0,
        "http_port": 0,
        "database_url": database_url,
        "command_timeout": 2.0,
        "heartbeat_interval": 120,
        # The automatic sync asks every charger its list keys and version at boot; tests that
        # count a charger's messages run without it (tests/integration/test_octt_local_list).
        "local_list_sync": False,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
async def server(
    database_url: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[AmpNexus]:
    """`@pytest.mark.settings(name=value, ...)` on a test changes the server's settings.
    Files (firmware, uploads) go to the test's own directory."""
    marker = request.node.get_closest_marker("settings")
    overrides = {"data_dir": tmp_path / "data"} | (marker.kwargs if marker else {})
    async with running(test_settings(database_url, **overrides)) as app:
        yield app


@pytest.fixture
def ocpp_url(server: AmpNexus) -> str:
    return f"ws://127.0.0.1:{server.ocpp_port}/ocpp"


@pytest.fixture
async def api(server: AmpNexus) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(server) as client:
        yield client


PASSWORD = "correct-horse-battery-staple"  # 16..40 characters, as OCPP requires


@pytest.fixture
async def registered(api: httpx.AsyncClient) -> str:
    """A charger registered with security profile 1; connect with PASSWORD."""
    response = await api.post("/charge-points", json={"id": "CP-1", "password": PASSWORD})
    assert response.status_code == 201, response.text
    return "CP-1"
