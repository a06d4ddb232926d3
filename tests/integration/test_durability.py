"""The real `ampnexus` command in child processes: what a charger was told is stored survives
a `kill -9`, Ctrl-C stops the server cleanly, and API keys are managed from the shell."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.conftest import PASSWORD
from tests.support.charger import charger

STARTUP_SECONDS = 30.0
SHUTDOWN_SECONDS = 5.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def child_env() -> dict[str, str]:
    """The test's environment without AMPNEXUS_* settings that could leak in."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AMPNEXUS_")}


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`ampnexus ARGS` in a child process, as typed in a shell."""
    return subprocess.run(
        [sys.executable, "-m", "ampnexus.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env=child_env(),
        check=False,
    )


def cli(database_url: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_cli("--database-url", database_url, *args, cwd=cwd)


def create_api_key(database_url: str, cwd: Path, name: str = "t") -> tuple[int, str]:
    """(id, secret) of a new key made with `ampnexus apikey create`."""
    result = cli(database_url, "apikey", "create", "--name", name, cwd=cwd)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    secret = lines[-1].strip()
    assert secret.startswith("anx_"), result.stdout
    key_id = int(lines[0].split()[3])  # "Created API key 1 (t). ..."
    return key_id, secret


class Server:
    """`python -m ampnexus.cli serve` as a child process, its output in a log file."""

    def __init__(self, database_url: str, workdir: Path) -> None:
        self.database_url = database_url
        self.workdir = workdir
        self.ocpp_port = free_port()
        self.http_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.runs = 0

    @property
    def ocpp_url(self) -> str:
        return f"ws://127.0.0.1:{self.ocpp_port}/ocpp"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/api/v1"

    @property
    def log(self) -> str:
        return "".join(
            path.read_text(errors="replace") for path in sorted(self.workdir.glob("server-*.log"))
        )

    async def start(self) -> None:
        self.spawn()
        await self.wait_ready()

    def spawn(self) -> None:
        assert self.process is None or self.process.poll() is not None, "already running"
        self.runs += 1
        log = (self.workdir / f"server-{self.runs}.log").open("wb")
        command = [sys.executable, "-m", "ampnexus.cli", "--database-url", self.database_url]
        command += ["serve", "--host", "127.0.0.1"]
        command += ["--ocpp-port", str(self.ocpp_port), "--http-port", str(self.http_port)]
        self.process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir, env=child_env()
        )
        log.close()

    async def wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + STARTUP_SECONDS
        async with httpx.AsyncClient(timeout=2) as client:
            while True:
                assert self.process.poll() is None, f"server exited early:\n{self.log}"
                with contextlib.suppress(httpx.TransportError):
                    response = await client.get(f"{self.http_url}/health")
                    if response.status_code == 200:
                        return
                assert time.monotonic() < deadline, f"server not ready in time:\n{self.log}"
                await asyncio.sleep(0.1)

    def kill(self) -> None:
        """kill -9: no clean stop, no flush, nothing."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)
        assert self.process.returncode == -signal.SIGKILL

    async def wait_exit(self, within: float) -> int:
        """Wait without blocking the loop, so test chargers can answer the close handshake."""
        assert self.process is not None
        deadline = time.monotonic() + within
        while (code := self.process.poll()) is None:
            assert time.monotonic() < deadline, f"server still running:\n{self.log}"
            await asyncio.sleep(0.05)
        return code

    def cleanup(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
def server_process(database_url: str, workdir: Path) -> Iterator[Server]:
    server = Server(database_url, workdir)
    try:
        yield server
    finally:
        server.cleanup()  # before the database fixture drops the database


@contextlib.asynccontextmanager
async def api_client(server: Server, secret: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=server.http_url, headers={"Authorization": f"Bearer {secret}"}, timeout=10
    ) as client:
        yield client


async def test_answered_data_survives_kill_9(
    server_process: Server, database_url: str, workdir: Path
):
    _, secret = create_api_key(database_url, workdir)
    await server_process.start()
    started_at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    sent: list[tuple[datetime, str, str]] = []  # (timestamp, energy, power)

    async with api_client(server_process, secret) as api:
        registered = await api.post("/charge-points", json={"id": "CP-9", "password": PASSWORD})
        assert registered.status_code == 201, registered.text
        tag = await api.post("/id-tags", json={"id_tag": "TAG-9"})
        assert tag.status_code == 201, tag.text

    async with charger(server_process.ocpp_url, "CP-9", PASSWORD) as cp:
        assert (await cp.boot()).status == "Accepted"
        await cp.status(1, "Charging")
        started = await cp.start_transaction(
            1, "TAG-9", meter_start=12_345, timestamp=iso(started_at)
        )
        assert started.id_tag_info["status"] == "Accepted"
        tx = started.transaction_id
        for minute in range(1, 8):
            at = started_at + timedelta(minutes=minute)
            energy, power = 12_345 + 150 * minute, 9000 + minute
            answer = await cp.meter_values(1, tx, energy, power, timestamp=iso(at))
            assert answer is not None  # answered: the CSMS says it is stored
            sent.append((at, str(energy), str(power)))
        # The moment the last answer arrives, pull the plug.
        server_process.kill()

    await server_process.start()  # same database, same ports
    async with api_client(server_process, secret) as api:
        shown = await api.get("/charge-points/CP-9")
        assert shown.status_code == 200, shown.text
        assert shown.json()["vendor"] == "AmpNexusTest"
        assert shown.json()["connected"] is False
        assert [c["status"] for c in shown.json()["connectors"]] == ["Charging"]
        assert (await api.get("/id-tags/TAG-9")).json()["status"] == "Accepted"

        active = (await api.get("/transactions", params={"active": "true"})).json()
        assert [t["id"] for t in active["items"]] == [tx]
        transaction = (await api.get(f"/transactions/{tx}")).json()
        assert transaction["active"] is True
        assert transaction["charge_point_id"] == "CP-9"
        assert transaction["id_tag"] == "TAG-9"
        assert transaction["meter_start"] == 12_345
        assert datetime.fromisoformat(transaction["started_at"]) == started_at
        stored = [
            (
                datetime.fromisoformat(reading["timestamp"]),
                reading["sampled_values"][0]["value"],
                reading["sampled_values"][1]["value"],
            )
            for reading in transaction["meter_values"]
        ]
        assert stored == sent

        # The charger comes back to the restarted server and finishes the session there.
        async with charger(server_process.ocpp_url, "CP-9", PASSWORD) as cp:
            assert (await cp.boot()).status == "Accepted"
            assert (await api.get("/charge-points/CP-9")).json()["connected"] is True
            stopped = await cp.stop_transaction(tx, meter_stop=14_000, reason="EVDisconnected")
            assert stopped is not None
        finished = (await api.get(f"/transactions/{tx}")).json()
        assert finished["active"] is False
        assert finished["meter_stop"] == 14_000
        assert finished["energy_wh"] == 14_000 - 12_345
        assert finished["stop_reason"] == "EVDisconnected"
        assert len(finished["meter_values"]) == len(sent)
        assert (await api.get("/transactions", params={"active": "true"})).json()["total"] == 0


async def test_ctrl_c_stops_cleanly(server_process: Server, database_url: str, workdir: Path):
    _, secret = create_api_key(database_url, workdir)
    await server_process.start()
    async with api_client(server_process, secret) as api:
        response = await api.post("/charge-points", json={"id": "CP-C", "security_profile": 0})
        assert response.status_code == 201, response.text

    async with charger(server_process.ocpp_url, "CP-C") as cp:
        assert (await cp.boot()).status == "Accepted"
        tx = (await cp.start_transaction(1, "TAG-C", meter_start=10)).transaction_id
        assert server_process.process is not None
        server_process.process.send_signal(signal.SIGINT)
        code = await server_process.wait_exit(SHUTDOWN_SECONDS)
    assert code == 0, server_process.log
    assert "Traceback" not in server_process.log, server_process.log

    # Both ports are free again, and the data is all there on the next start.
    await server_process.start()
    async with api_client(server_process, secret) as api:
        shown = (await api.get("/charge-points/CP-C")).json()
        assert shown["vendor"] == "AmpNexusTest"
        assert shown["last_seen"] is not None  # flushed on the way out
        assert (await api.get(f"/transactions/{tx}")).json()["active"] is True
    server_process.process.send_signal(signal.SIGINT)
    assert await server_process.wait_exit(SHUTDOWN_SECONDS) == 0


async def test_api_keys_from_the_command_line(
    server_process: Server, database_url: str, workdir: Path
):
    first_id, first = create_api_key(database_url, workdir, name="ops laptop")
    second_id, second = create_api_key(database_url, workdir, name="billing")
    assert first_id != second_id and first != second

    listed = cli(database_url, "apikey", "list", cwd=workdir)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == 2, listed.stdout
    assert "ops laptop" in lines[0] and "active" in lines[0]
    assert lines[0].split()[0] == str(first_id)
    assert first[:12] in lines[0]  # the prefix, never the secret
    assert first not in listed.stdout and second not in listed.stdout
    assert "billing" in lines[1]

    await server_process.start()
    async with api_client(server_process, first) as api:
        assert (await api.get("/charge-points")).status_code == 200

        revoked = cli(database_url, "apikey", "revoke", str(first_id), cwd=workdir)
        assert revoked.returncode == 0, revoked.stderr
        refused = await api.get("/charge-points")  # the running server sees it at once
        assert refused.status_code == 401, refused.text
        assert refused.headers["www-authenticate"] == "Bearer"
    async with api_client(server_process, second) as api:
        assert (await api.get("/charge-points")).status_code == 200
        keys = {k["id"]: k for k in (await api.get("/api-keys")).json()}
        assert keys[first_id]["active"] is False
        assert keys[second_id]["active"] is True

    listed = cli(database_url, "apikey", "list", cwd=workdir)
    line = next(line for line in listed.stdout.splitlines() if "ops laptop" in line)
    assert "revoked" in line, listed.stdout
    again = cli(database_url, "apikey", "revoke", str(first_id), cwd=workdir)
    assert again.returncode != 0
    assert str(first_id) in again.stderr
    unknown = cli(database_url, "apikey", "revoke", "9999", cwd=workdir)
    assert unknown.returncode != 0
