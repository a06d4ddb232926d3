"""The live event stream (Server-Sent Events): what happens arrives as it happens, a client
resumes with Last-Event-ID and misses nothing, filters hold, and it needs an API key."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import httpx

from ampnexus.app import AmpNexus
from tests.support.charger import charger


async def read_events(
    api: httpx.AsyncClient,
    count: int,
    headers: dict[str, str] | None = None,
    wait_s: float | None = None,
    **params: Any,
) -> list[tuple[str, str, dict[str, Any]]]:
    """(id, event, data) of the first `count` events of the stream; with `wait_s`, those
    that came within that time."""
    out: list[tuple[str, str, dict[str, Any]]] = []
    if wait_s is not None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait_s):
                await _read(api, count, headers, params, out)
        return out
    async with asyncio.timeout(15):
        await _read(api, count, headers, params, out)
    return out


async def _read(
    api: httpx.AsyncClient,
    count: int,
    headers: dict[str, str] | None,
    params: dict[str, Any],
    out: list[tuple[str, str, dict[str, Any]]],
) -> None:
    fields: dict[str, str] = {}
    async with api.stream("GET", "/events", params=params, headers=headers) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if line == "":
                if "data" in fields:
                    out.append((fields["id"], fields["event"], json.loads(fields["data"])))
                    if len(out) == count:
                        return
                fields = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(": ")
                fields[name] = value


async def test_events_stream_live_and_resume_with_last_event_id(
    server: AmpNexus, api: httpx.AsyncClient, ocpp_url: str
) -> None:
    for cp_id in ("CP-1", "CP-2", "CP-3"):
        assert (
            await api.post("/charge-points", json={"id": cp_id, "security_profile": 0})
        ).status_code == 201

    async def connect(cp_id: str) -> None:
        async with charger(ocpp_url, cp_id) as cp:
            await cp.boot()
            await cp.status(1, "Available")

    start = {"Last-Event-ID": str(await server.services.feed.last_seq())}
    reading = asyncio.create_task(read_events(api, 2, start, types="charge_point.connected"))
    await connect("CP-1")
    await connect("CP-2")
    first = await reading
    assert [(e, d["data"]["charge_point_id"]) for _, e, d in first] == [
        ("charge_point.connected", "CP-1"),
        ("charge_point.connected", "CP-2"),
    ]
    assert first[0][2]["type"] == "charge_point.connected" and first[0][2]["id"]

    await connect("CP-3")  # while no client listens
    resumed = await read_events(api, 4, headers={"Last-Event-ID": first[0][0]})
    # After CP-1's connection: CP-1's status, CP-1's disconnection, then CP-2's connection.
    kinds = [(e, d["data"]["charge_point_id"]) for _, e, d in resumed]
    assert kinds[0] == ("charge_point.status_changed", "CP-1")
    assert ("charge_point.connected", "CP-2") in kinds
    assert int(resumed[0][0]) > int(first[0][0])
    later = await read_events(
        api, 1, headers={"Last-Event-ID": first[1][0]}, types="charge_point.connected"
    )
    assert [(e, d["data"]["charge_point_id"]) for _, e, d in later] == [
        ("charge_point.connected", "CP-3")
    ]


async def test_the_stream_refuses_bad_input_and_wants_a_key(
    server: AmpNexus, api: httpx.AsyncClient
) -> None:
    bad = await api.get("/events", params={"types": "sessions.*"})
    assert bad.status_code == 422 and "sessions.*" in bad.text
    resume = await api.get("/events", headers={"Last-Event-ID": "abc"})
    assert resume.status_code == 422
    async with httpx.AsyncClient(base_url=str(api.base_url)) as anonymous:
        assert (await anonymous.get("/events")).status_code == 401


async def test_without_last_event_id_the_stream_starts_with_the_next_event(
    server: AmpNexus, api: httpx.AsyncClient, ocpp_url: str
) -> None:
    created = await api.post("/charge-points", json={"id": "CP-1", "security_profile": 0})
    assert created.status_code == 201
    async with charger(ocpp_url, "CP-1") as cp:
        await cp.boot()
        await cp.status(1, "Available")
        # Its answer's head arrives once the stream has taken its starting point.
        async with api.stream("GET", "/events", params={"types": "charge_point.*"}) as stream:
            await cp.status(1, "Faulted", error_code="GroundFailure")
            async with asyncio.timeout(10):
                async for line in stream.aiter_lines():
                    if line.startswith("data: "):
                        event = json.loads(line[6:])
                        break
    assert event["type"] == "charge_point.status_changed"
    assert event["data"]["status"] == "Faulted"
