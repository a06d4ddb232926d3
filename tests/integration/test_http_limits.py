"""The HTTP API's limits over real sockets: body sizes decided before the body is read,
chunked bodies cut off as they arrive, the bulk uploads' larger limit, the API key checked
before any upload, slow and oversized request heads, idle and concurrent connections, and
maximum string lengths."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest

from ampnexus.app import AmpNexus
from ampnexus.config import MiB
from tests.integration.test_api import assert_error
from tests.support.raw_http import RawHttp

FIFTY_MB = 50_000_000
JSON = {"Content-Type": "application/json"}


@pytest.fixture
async def secret(server: AmpNexus, api: httpx.AsyncClient) -> str:
    """The admin key the `api` client uses."""
    return api.headers["authorization"].removeprefix("Bearer ")


@contextlib.asynccontextmanager
async def raw(server: AmpNexus) -> AsyncIterator[RawHttp]:
    connection = await RawHttp.open(server.http_port)
    try:
        yield connection
    finally:
        connection.close()


def json_head(length: int, *extra: str) -> tuple[str, ...]:
    return ("Content-Type: application/json", f"Content-Length: {length}", *extra)


# --- body limits ------------------------------------------------------------------------------
async def test_an_oversize_content_length_gets_413_before_the_body_is_sent(
    server: AmpNexus, secret: str
):
    async with raw(server) as http:
        await http.send_head(
            "POST", "/api/v1/charge-points", *json_head(FIFTY_MB, f"Authorization: Bearer {secret}")
        )
        answer = await http.answer()  # not one byte of the 50 MB was sent
        assert answer.status == 413
        assert "1 MiB" in answer.json()["detail"]
        assert answer.headers["connection"] == "close"
        assert await http.closed_by_server()


async def test_an_oversize_chunked_body_is_cut_off_with_413(
    server: AmpNexus, secret: str, api: httpx.AsyncClient
):
    chunk = b"x" * 65536
    sent = 0

    async def upload(http: RawHttp) -> None:
        nonlocal sent
        with contextlib.suppress(ConnectionError):
            while sent < 8 * MiB:  # far more than the limit, unless cut off
                await http.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)

    async with raw(server) as http:
        await http.send_head(
            "POST",
            "/api/v1/id-tags",
            "Content-Type: application/json",
            "Transfer-Encoding: chunked",
            f"Authorization: Bearer {secret}",
        )
        uploading = asyncio.create_task(upload(http))
        try:
            answer = await http.answer()
        except ConnectionError:
            # The server stops reading and closes; on a busy machine the reset that unread
            # bytes cause can reach this client before it has read the 413.
            answer = None
        uploading.cancel()
        if answer is not None:
            assert answer.status == 413, answer.body
            assert "1 MiB" in answer.json()["detail"]
        assert sent < 8 * MiB  # cut off either way
    # The server is fine, and stored nothing.
    assert (await api.get("/id-tags")).json()["total"] == 0


async def test_a_body_within_the_limit_is_served(api: httpx.AsyncClient):
    padding = " " * (MiB - 200)  # JSON whitespace: a body of almost 1 MiB
    body = f'{{"id_tag": "TAG-BIG",{padding}"description": "fits"}}'.encode()
    assert len(body) <= MiB
    response = await api.post("/id-tags", content=body, headers=JSON)
    assert response.status_code == 201, response.text
    # A client that sends a body over the limit before reading the answer still reads
    # a 413 (a body this small is drained, not reset by a close).
    too_large = body[:-1] + b" " * MiB + b"}"
    response = await api.post("/id-tags", content=too_large, headers=JSON)
    assert_error(response, 413, "1 MiB")


async def test_an_unauthenticated_upload_gets_401_before_its_body_is_read(server: AmpNexus):
    for authorization in ((), ("Authorization: Bearer anx_not-a-real-key",)):
        async with raw(server) as http:
            await http.send_head(
                "POST", "/api/v1/sites/s/meter", *json_head(FIFTY_MB, *authorization)
            )
            answer = await http.answer()  # the 50 MB never sent, nor waited for
            assert answer.status == 401
            assert answer.headers["www-authenticate"] == "Bearer"
            assert "key" in answer.json()["detail"]
            assert await http.closed_by_server()


async def test_the_bulk_uploads_take_up_to_16_mib(api: httpx.AsyncClient):
    site = {"id": "s", "name": "S", "time_zone": "UTC", "grid_limit_kw": 40}
    assert (await api.post("/sites", json=site)).status_code == 201
    body = _series(3600, padding=400)  # an hour of seconds, well over 1 MiB
    assert MiB < len(body) < 16 * MiB
    stored = await api.post("/sites/s/meter", content=body, headers=JSON)
    assert stored.status_code == 201, stored.text
    assert stored.json() == {"stored": 3600}
    # The same size to a route without a documented larger limit is refused.
    assert_error(await api.post("/sites/s/circuits", content=body, headers=JSON), 413, "1 MiB")


def _series(count: int, padding: int) -> bytes:
    """`count` meter points a second apart, each padded with JSON whitespace."""
    points = [
        f'{{"timestamp": "2025-01-01T{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z",'
        f'{" " * padding}"value": {n}}}'
        for n in range(count)
    ]
    return ('{"points": [' + ",".join(points) + "]}").encode()


@pytest.mark.settings(http_max_body_bytes=64 * 1024, http_max_bulk_body_bytes=2 * MiB)
async def test_the_limits_are_settings_and_the_openapi_document_states_them(
    server: AmpNexus, secret: str, api: httpx.AsyncClient
):
    async with raw(server) as http:
        auth = f"Authorization: Bearer {secret}"
        await http.send_head("POST", "/api/v1/sites/s/solar", *json_head(3 * MiB, auth))
        answer = await http.answer()
        assert answer.status == 413 and "2 MiB" in answer.json()["detail"]
    too_large = b'{"id_tag": "T"' + b" " * (64 * 1024) + b"}"
    assert_error(await api.post("/id-tags", content=too_large), 413, "64 KiB")

    spec = (await api.get("/openapi.json")).json()
    assert "64 KiB" in spec["info"]["description"] and "2 MiB" in spec["info"]["description"]
    for path in ("/meter", "/solar", "/carbon", "/tariffs/{tariff_id}/prices"):
        upload = spec["paths"][f"/api/v1/sites/{{site_id}}{path}"]["post"]
        assert upload["x-max-body-bytes"] == 2 * MiB, path
        assert "2 MiB" in upload["description"], path
    assert "x-max-body-bytes" not in spec["paths"]["/api/v1/sites"]["post"]


# --- request heads and connections ------------------------------------------------------------
@pytest.mark.settings(http_header_timeout=0.5)
async def test_a_client_that_sends_no_request_head_in_time_is_disconnected(server: AmpNexus):
    async with raw(server) as silent, raw(server) as slow, raw(server) as prompt:
        await slow.send(b"GET /api/v1/health HTTP/1.1\r\nHost: 127")
        dribbling = asyncio.create_task(_dribble(slow, b"." * 100))
        await prompt.send_head("GET", "/api/v1/health")
        assert (await prompt.answer()).status == 200
        assert await silent.closed_by_server(within=10)
        assert await slow.closed_by_server(within=10)
        dribbling.cancel()
        # A kept-alive connection that starts its next head but never finishes it, too.
        await prompt.send(b"GET /api/v1/health HTTP/1.1\r\n")
        assert await prompt.closed_by_server(within=10)


async def _dribble(http: RawHttp, data: bytes) -> None:
    """A byte every 0.1 s: each one would reset a plain idle timeout."""
    with contextlib.suppress(ConnectionError):
        for byte in data:
            await http.send(bytes([byte]))
            await asyncio.sleep(0.1)


@pytest.mark.settings(http_max_header_bytes=4096)
async def test_a_request_head_growing_past_the_limit_is_refused(server: AmpNexus):
    async with raw(server) as http:
        await http.send(b"GET /api/v1/health HTTP/1.1\r\nX-Filler: " + b"x" * 8000)
        assert (await http.answer()).status == 400  # not waiting for the rest of it
        assert await http.closed_by_server()
    async with raw(server) as http:
        await http.send_head("GET", "/api/v1/health", f"X-Filler: {'x' * 2000}")
        assert (await http.answer()).status == 200


@pytest.mark.settings(http_keep_alive_timeout=0.5)
async def test_an_idle_kept_alive_connection_is_closed(server: AmpNexus):
    async with raw(server) as http:
        await http.send_head("GET", "/api/v1/health")
        assert (await http.answer()).status == 200
        assert await http.closed_by_server(within=4)  # uvicorn's own default is 5 s


@pytest.mark.settings(http_max_connections=3)
async def test_connections_over_the_cap_get_503(server: AmpNexus):
    async with raw(server) as first:
        await first.send_head("GET", "/api/v1/health")
        assert (await first.answer()).status == 200
        async with raw(server), raw(server) as third:  # three connections: the cap
            await third.send_head("GET", "/api/v1/health")
            answer = await third.answer()
            assert answer.status == 503, answer.body
        await asyncio.sleep(0.2)  # the server notices they are gone
        await first.send_head("GET", "/api/v1/health")
        assert (await first.answer()).status == 200


# --- string lengths ---------------------------------------------------------------------------
async def test_descriptions_and_free_text_have_maximum_lengths(
    api: httpx.AsyncClient, registered: str
):
    long = "d" * 1001
    for method, path, body in [
        ("POST", "/charge-points", {"id": "CP-2", "security_profile": 0, "description": long}),
        ("PATCH", f"/charge-points/{registered}", {"description": long}),
        ("POST", "/id-tags", {"id_tag": "TAG-1", "description": long}),
        ("PATCH", "/id-tags/TAG-1", {"description": long}),
        ("POST", "/sites", {"id": "s", "name": "n" * 101, "time_zone": "UTC"}),
    ]:
        response = await api.request(method, path, json=body)
        detail = assert_error(response, 422, "at most")
        assert "description" in detail or "name" in detail, detail
    assert (await api.get("/charge-points/CP-2")).status_code == 404  # nothing stored
    fits = await api.patch(f"/charge-points/{registered}", json={"description": "d" * 1000})
    assert fits.status_code == 200, fits.text


async def test_answers_do_not_wait_for_the_clients_delayed_ack(server: AmpNexus):
    """Without TCP_NODELAY a response written in two parts waits ~40 ms for the client's
    delayed ACK, on every request of a kept-alive connection."""
    async with raw(server) as http:
        times = []
        for _ in range(21):
            started = asyncio.get_running_loop().time()
            await http.send_head("GET", "/api/v1/health")
            assert (await http.answer()).status == 200
            times.append(asyncio.get_running_loop().time() - started)
    assert sorted(times)[10] < 0.02, times  # a generous bound: ~1 ms here, 40+ ms with Nagle
