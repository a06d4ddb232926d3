"""Diagnostics and logs: a charger asked (GetDiagnostics, or the whitepaper's GetLog) uploads
its file to an unguessable URL of AmpNexus's own, where it is kept for operators to
download. What the charger reports of its upload is kept too."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterable
from dataclasses import replace
from pathlib import Path

from ampnexus.domain.errors import ChargerNotConnected, NotFound
from ampnexus.domain.firmware import (
    TransferReport,
    UploadKind,
    UploadOptions,
    UploadRequest,
    safe_file_name,
    upload_url,
)
from ampnexus.domain.time import Clock
from ampnexus.services.charge_points import ChargePointService
from ampnexus.services.file_ports import FileCommands, FileStore, UploadStore
from ampnexus.services.ports import Page

UPLOADS_AREA = "uploads"
DIAGNOSTICS = (UploadKind.DIAGNOSTICS,)
LOGS = (UploadKind.DIAGNOSTICS_LOG, UploadKind.SECURITY_LOG)
NOTIFICATION_KINDS = {"DiagnosticsStatusNotification": DIAGNOSTICS, "LogStatusNotification": LOGS}


class UploadService:
    def __init__(
        self,
        store: UploadStore,
        files: FileStore,
        commands: FileCommands,
        charge_points: ChargePointService,
        clock: Clock,
        max_bytes: int,
        files_url: str | None = None,
    ) -> None:
        """`files_url`: the address chargers reach AmpNexus at; None: the caller's base_url."""
        self._store = store
        self._files = files
        self._commands = commands
        self._charge_points = charge_points
        self._clock = clock
        self._max_bytes = max_bytes
        self._files_url = files_url

    async def request(
        self, charge_point_id: str, kind: UploadKind, options: UploadOptions, base_url: str
    ) -> UploadRequest:
        """GetDiagnostics (kind DIAGNOSTICS) or GetLog, with an upload URL of its own. The
        command's failure is raised; the request stays, unanswered."""
        await self._charge_points.get(charge_point_id)
        if not self._charge_points.is_connected(charge_point_id):
            raise ChargerNotConnected(f"charge point {charge_point_id!r} is not connected")
        token = secrets.token_urlsafe(32)
        request = await self._store.add_request(
            UploadRequest(0, charge_point_id, kind, token, self._clock.now())
        )
        location = upload_url(self._files_url or base_url, token)
        if kind is UploadKind.DIAGNOSTICS:
            reply = await self._commands.get_diagnostics(charge_point_id, location, options)
            name = reply.get("fileName")
            # No fileName: the charger has no diagnostics to upload (OCPP 1.6 §6.21).
            answer = "Accepted" if name else "NoDiagnostics"
        else:
            sent = await self._commands.get_log(request, location, options)
            answer, name = sent.status.value, sent.as_sent.get("filename")
        answered = replace(request, answer=answer, file_name=_name(name))
        await self._store.save_request(answered)
        return answered

    async def expect(self, token: str) -> None:
        """NotFound unless `token` is an upload location we gave out."""
        if await self._store.by_token(token) is None:
            raise NotFound("no such upload location")

    async def receive(
        self, token: str, offered_name: str | None, chunks: AsyncIterable[bytes]
    ) -> UploadRequest:
        """A charger's upload to its request's URL (again: the last one is kept).
        NotFound for a token of no request; TooLarge past the limit."""
        request = await self._store.by_token(token)
        if request is None:
            raise NotFound("no such upload location")
        stored = await self._files.save(UPLOADS_AREA, token, chunks, self._max_bytes)
        arrived = replace(
            request,
            size=stored.size,
            sha256=stored.sha256,
            uploaded_at=self._clock.now(),
            file_name=request.file_name or _name(offered_name),
        )
        await self._store.save_request(arrived)
        return arrived

    async def status_received(
        self, charge_point_id: str, notification: str, status: str, request_id: int | None
    ) -> None:
        """A DiagnosticsStatusNotification (about the charger's latest GetDiagnostics) or
        LogStatusNotification (its requestId's GetLog, else the latest)."""
        kinds = NOTIFICATION_KINDS[notification]
        request = await self._subject(charge_point_id, kinds, request_id)
        now = self._clock.now()
        await self._store.add_report(
            TransferReport(
                charge_point_id, notification, status, now, request.id if request else None
            )
        )
        if request is not None:
            await self._store.save_request(replace(request, status=status))

    async def _subject(
        self, charge_point_id: str, kinds: tuple[UploadKind, ...], request_id: int | None
    ) -> UploadRequest | None:
        if request_id is not None:
            found = await self._store.request(request_id)
            if found is not None and found.charge_point_id == charge_point_id:
                return found if found.kind in kinds else None
        return await self._store.latest(charge_point_id, kinds)

    async def requests_of(
        self, charge_point_id: str, kinds: tuple[UploadKind, ...], limit: int, offset: int
    ) -> Page[UploadRequest]:
        await self._charge_points.get(charge_point_id)
        return await self._store.requests_of(charge_point_id, kinds, limit, offset)

    async def one(
        self, charge_point_id: str, kinds: tuple[UploadKind, ...], request_id: int
    ) -> UploadRequest:
        found = await self._store.request(request_id)
        if found is None or found.charge_point_id != charge_point_id or found.kind not in kinds:
            raise NotFound(f"no request {request_id} of {charge_point_id}")
        return found

    async def file(
        self, charge_point_id: str, kinds: tuple[UploadKind, ...], request_id: int
    ) -> tuple[UploadRequest, Path]:
        found = await self.one(charge_point_id, kinds, request_id)
        path = self._files.path(UPLOADS_AREA, found.token) if found.uploaded_at else None
        if path is None:
            raise NotFound(f"the charger has uploaded no file for request {request_id} yet")
        return found, path


def _name(name: object) -> str | None:
    return safe_file_name(name, "upload.bin") if isinstance(name, str) and name else None
