"""A charge point run by a third-party OCPP 1.6J stack (`ocpp-rpc`, from npm, in Node):
tests/peers/ocpp_rpc_charger.js, driven over its stdin and stdout. In strict mode it checks
every call and answer both ways against its own copy of the OCPP 1.6 schemas, so what
AmpNexus sends is judged by an implementation that is not ours."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve().parents[1] / "peers" / "ocpp_rpc_charger.js"


class PeerError(Exception):
    """The CSMS answered a call with a CALLERROR, or its answer failed the peer's schema."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass
class RpcPeer:
    process: asyncio.subprocess.Process
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)  # schema failures, either way
    _pending: dict[int, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    _next_id: int = 0
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The CSMS's answer; PeerError for a CALLERROR or an answer the schema refuses."""
        self._next_id += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[self._next_id] = future
        line = json.dumps({"id": self._next_id, "call": action, "payload": payload})
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")
        await self.process.stdin.drain()
        async with asyncio.timeout(30):
            return await future

    async def wait_for(self, action: str, after: int = 0, within: float = 15.0) -> dict[str, Any]:
        """The payload of the `after`+1-th `action` the CSMS sent (waiting for it)."""
        async with asyncio.timeout(within):
            while True:
                sent = self.sent(action)
                if len(sent) > after:
                    return sent[after]
                self._arrived.clear()
                await self._arrived.wait()

    def sent(self, action: str) -> list[dict[str, Any]]:
        """Every `action` the CSMS sent so far, in order."""
        return [payload for name, payload in self.received if name == action]

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            line = json.loads(raw)
            if "id" in line:
                future = self._pending.pop(line["id"])
                if "error" in line:
                    future.set_exception(PeerError(line["error"]["code"], line["error"]["message"]))
                else:
                    future.set_result(line["result"])
            elif "received" in line:
                self.received.append((line["received"], line["payload"]))
            elif "refused" in line:
                self.refused.append(line)
            self._arrived.set()


def node() -> str:
    found = shutil.which("node")
    assert found, "Node.js is needed (make install installs the npm packages with it)"
    return found


@contextlib.asynccontextmanager
async def rpc_peer(ocpp_url: str, identity: str, password: str) -> AsyncIterator[RpcPeer]:
    """The peer, connected (its first line says so) for the block's duration."""
    process = await asyncio.create_subprocess_exec(
        node(),
        str(SCRIPT),
        f"{ocpp_url}",
        identity,
        password,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    async with asyncio.timeout(15):
        first = json.loads(await process.stdout.readline())
    assert first == {"connected": identity}, first
    peer = RpcPeer(process)
    reader = asyncio.create_task(peer._read())
    try:
        yield peer
    finally:
        assert process.stdin is not None
        process.stdin.close()
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        await process.wait()
        reader.cancel()
