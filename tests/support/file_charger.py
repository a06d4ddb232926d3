"""A test charger that also takes the firmware and diagnostics commands, and really fetches
and uploads the files over HTTP (httpx), as a charger does."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from ocpp.routing import after, on
from ocpp.v16 import call, call_result

from tests.support.charger import TestCharger, charger


class FileCharger(TestCharger):
    __test__ = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.answers |= {"SignedUpdateFirmware": "Accepted", "GetLog": "Accepted"}
        self.diagnostics_file: str | None = "diagnostics.zip"  # None: nothing to upload
        self.log_file = "security.log"
        # Sent right after its UpdateFirmware.conf, as a quick charger does (None: nothing).
        self.status_after_update: str | None = None

    # --- commands, as the CSMS sends them ---------------------------------------------------
    @on("UpdateFirmware")
    async def on_update_firmware(self, **payload: Any) -> Any:
        await self._record("UpdateFirmware", payload)
        return call_result.UpdateFirmware()

    @after("UpdateFirmware")
    async def after_update_firmware(self, **payload: Any) -> None:
        if self.status_after_update is not None:
            await self.firmware_status(self.status_after_update)

    @on("SignedUpdateFirmware")
    async def on_signed_update_firmware(self, **payload: Any) -> Any:
        await self._record("SignedUpdateFirmware", payload)
        return call_result.SignedUpdateFirmware(status=self.answers["SignedUpdateFirmware"])

    @on("GetDiagnostics")
    async def on_get_diagnostics(self, **payload: Any) -> Any:
        await self._record("GetDiagnostics", payload)
        return call_result.GetDiagnostics(file_name=self.diagnostics_file)

    @on("GetLog")
    async def on_get_log(self, **payload: Any) -> Any:
        await self._record("GetLog", payload)
        return call_result.GetLog(status=self.answers["GetLog"], filename=self.log_file)

    # --- what the charger does with them -----------------------------------------------------
    async def fetch(self, url: str) -> httpx.Response:
        """GET the firmware, with no credentials: a charger holds no API key."""
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.get(url)

    async def put_file(self, url: str, data: bytes) -> httpx.Response:
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.put(url, content=data)

    async def post_form(self, url: str, name: str, data: bytes) -> httpx.Response:
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(
                url, data={"note": "from the charger"}, files={"file": (name, data)}
            )

    # --- notifications: each must be answered with its .conf, not a CALLERROR -----------------
    async def firmware_status(self, status: str) -> Any:
        return await self._notify(call.FirmwareStatusNotification(status=status))

    async def signed_firmware_status(self, status: str, request_id: int | None) -> Any:
        return await self._notify(
            call.SignedFirmwareStatusNotification(status=status, request_id=request_id)
        )

    async def diagnostics_status(self, status: str) -> Any:
        return await self._notify(call.DiagnosticsStatusNotification(status=status))

    async def log_status(self, status: str, request_id: int | None) -> Any:
        return await self._notify(call.LogStatusNotification(status=status, request_id=request_id))

    async def _notify(self, message: Any) -> Any:
        answer = await self.call(message)  # the ocpp package answers None for a CALLERROR
        assert answer is not None, f"{type(message).__name__} was refused"
        return answer


def signature_holds(certificate_pem: str, signature_b64: str, firmware: bytes) -> bool:
    """What a charger checks before it installs a signed firmware (whitepaper §3.4)."""
    public_key = x509.load_pem_x509_certificate(certificate_pem.encode()).public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    try:
        public_key.verify(base64.b64decode(signature_b64), firmware, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


@contextlib.asynccontextmanager
async def file_charger(
    ocpp_url: str, charge_point_id: str, password: str | None = None
) -> AsyncIterator[FileCharger]:
    """`charger`, as a FileCharger."""
    async with charger(ocpp_url, charge_point_id, password, charger_class=FileCharger) as cp:
        assert isinstance(cp, FileCharger)
        yield cp
