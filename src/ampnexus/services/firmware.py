"""Firmware: the images AmpNexus serves, the updates it sends chargers (one charger, or a
rollout to many) and what the chargers report as they download and install.

A charger offline when its rollout starts gets the update once it boots again. The
statuses a charger reports are kept as it sent them (its history) and move its update's
state; a failed or refused firmware raises an alert.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from ampnexus.domain.alert import AlertKey, AlertKind, Severity
from ampnexus.domain.errors import ChargerNotConnected, DomainError, Invalid, NotFound
from ampnexus.domain.firmware import (
    ALERTING_STATUSES,
    SECURITY_STATUSES,
    FirmwareFile,
    FirmwareUpdate,
    Rollout,
    TransferReport,
    UpdateSpec,
    UpdateState,
    download_url,
    safe_file_name,
    state_after,
)
from ampnexus.domain.time import Clock
from ampnexus.services.alerts import AlertService
from ampnexus.services.charge_points import ChargePointService
from ampnexus.services.file_ports import FileCommands, FileStore, FirmwareStore
from ampnexus.services.ports import Page

FIRMWARE_AREA = "firmware"
FIRMWARE_NOTIFICATIONS = ("FirmwareStatusNotification", "SignedFirmwareStatusNotification")
OFFLINE = "the charger is offline: it is sent the update when it boots"
MAX_ROLLOUT_CHARGERS = 1000


@dataclass(frozen=True, slots=True)
class FirmwareState:
    """A charger's firmware as far as AmpNexus knows: its last reported status, and its
    latest update."""

    status: str | None
    reported_at: datetime | None
    update: FirmwareUpdate | None


class FirmwareService:
    def __init__(
        self,
        store: FirmwareStore,
        files: FileStore,
        commands: FileCommands,
        charge_points: ChargePointService,
        alerts: AlertService,
        clock: Clock,
        max_bytes: int,
        files_url: str | None = None,
    ) -> None:
        """`files_url`: the address chargers reach AmpNexus at; None: the caller's base_url."""
        self._store = store
        self._files = files
        self._commands = commands
        self._charge_points = charge_points
        self._alerts = alerts
        self._clock = clock
        self._max_bytes = max_bytes
        self._files_url = files_url
        self._delivering: set[str] = set()  # chargers whose waiting update is being sent
        self._locks: dict[str, asyncio.Lock] = {}  # one change at a time to a charger's updates

    # --- the firmware we serve --------------------------------------------------------------
    async def upload(self, name: str, chunks: AsyncIterable[bytes]) -> FirmwareFile:
        """Raises TooLarge past the limit; nothing is kept then."""
        name = safe_file_name(name, "firmware.bin")
        token = secrets.token_urlsafe(32)  # the file's key on disk too
        stored = await self._files.save(FIRMWARE_AREA, token, chunks, self._max_bytes)
        try:
            return await self._store.add_file(name, stored, token, self._clock.now())
        except BaseException:
            await self._files.delete(FIRMWARE_AREA, token)
            raise

    async def files(self, limit: int, offset: int) -> Page[FirmwareFile]:
        return await self._store.files(limit, offset)

    async def file(self, firmware_id: int) -> FirmwareFile:
        found = await self._store.file(firmware_id)
        if found is None:
            raise NotFound(f"no firmware {firmware_id}")
        return found

    def download_url(self, firmware: FirmwareFile, base_url: str) -> str:
        return download_url(self._files_url or base_url, firmware)

    async def delete(self, firmware_id: int) -> None:
        found = await self.file(firmware_id)
        await self._store.delete_file(firmware_id)
        await self._files.delete(FIRMWARE_AREA, found.token)

    async def download(self, token: str, name: str) -> tuple[FirmwareFile, Path]:
        """The file behind a download URL; NotFound for any part wrong."""
        found = await self._store.file_by_token(token)
        path = self._files.path(FIRMWARE_AREA, token) if found else None
        if found is None or found.name != name or path is None:
            raise NotFound("no such file")
        return found, path

    # --- updates ----------------------------------------------------------------------------
    async def update(self, charge_point_id: str, spec: UpdateSpec, base_url: str) -> FirmwareUpdate:
        """Send one connected charger an (optionally signed) firmware update now. The
        command's failure (offline, timeout, CALLERROR) is raised, and kept as the update's."""
        await self._charge_points.get(charge_point_id)  # 404 before 409
        if not self._charge_points.is_connected(charge_point_id):
            raise ChargerNotConnected(f"charge point {charge_point_id!r} is not connected")
        location = await self._location(spec, base_url)
        update = await self._store.add_update(self._new(charge_point_id, spec, location, None))
        return await self._send(update, raise_failure=True)

    async def rollout(
        self, charge_point_ids: Iterable[str], spec: UpdateSpec, base_url: str
    ) -> Rollout:
        """The update to every charger named: the connected ones now, the others when they
        boot. Every charger must be registered."""
        chargers = list(dict.fromkeys(charge_point_ids))
        if not chargers or len(chargers) > MAX_ROLLOUT_CHARGERS:
            raise Invalid(f"a rollout goes to 1 to {MAX_ROLLOUT_CHARGERS} chargers")
        for charge_point_id in chargers:
            await self._charge_points.get(charge_point_id)
        location = await self._location(spec, base_url)
        now = self._clock.now()
        rollout_id = await self._store.add_rollout(
            location, spec.signing is not None, spec.firmware_id, now
        )
        updates = [
            await self._store.add_update(self._new(cp, spec, location, rollout_id))
            for cp in chargers
        ]
        await asyncio.gather(*(self._send_when_connected(update) for update in updates))
        return await self.rollout_progress(rollout_id)

    async def rollout_progress(self, rollout_id: int) -> Rollout:
        found = await self._store.rollout(rollout_id)
        if found is None:
            raise NotFound(f"no rollout {rollout_id}")
        return found

    async def booted(self, charge_point_id: str) -> None:
        """A charger booted: the latest update waiting for it goes now (older ones waiting
        are superseded: a charger installs one firmware)."""
        if charge_point_id in self._delivering:
            return  # a boot moments ago is sending it already
        self._delivering.add(charge_point_id)
        try:
            waiting = await self._store.unsent(charge_point_id)
            if not waiting:
                return
            *older, latest = waiting
            for update in older:
                superseded = f"superseded by update {latest.id}"
                await self._save(update, state=UpdateState.FAILED, problem=superseded)
            await self._send(latest, raise_failure=False)
        finally:
            self._delivering.discard(charge_point_id)

    async def _send_when_connected(self, update: FirmwareUpdate) -> None:
        if self._charge_points.is_connected(update.charge_point_id):
            await self._send(update, raise_failure=False)
        else:
            await self._save(update, problem=OFFLINE)

    async def _send(self, update: FirmwareUpdate, raise_failure: bool) -> FirmwareUpdate:
        # Marked sent before it goes: a status the charger sends right after its answer
        # must find the update it is about.
        await self._save(update, sent_at=self._clock.now(), problem=None)
        try:
            if update.signing is not None:
                answer = (await self._commands.signed_update_firmware(update)).status
                accepted, said = answer.accepted, answer.value
            else:
                await self._commands.update_firmware(update)  # UpdateFirmware.conf is empty
                accepted, said = True, "Accepted"
        except ChargerNotConnected:
            if raise_failure:
                raise
            # Gone meanwhile: it waits for the charger's boot.
            return await self._amend(update, sent_at=None, problem=OFFLINE)
        except DomainError as error:
            failed = await self._amend(update, state=UpdateState.FAILED, problem=str(error))
            if raise_failure:
                raise
            return failed
        if accepted:
            return await self._amend(update, answer=said)
        refused = f"the charger answered {said}"
        return await self._amend(update, answer=said, state=UpdateState.FAILED, problem=refused)

    async def _amend(self, update: FirmwareUpdate, **changes: object) -> FirmwareUpdate:
        """Change the update as stored now: the charger's statuses may have moved it."""
        async with self._lock(update.charge_point_id):
            current = await self._store.update(update.id) or update
            return await self._save(current, **changes)

    def _lock(self, charge_point_id: str) -> asyncio.Lock:
        return self._locks.setdefault(charge_point_id, asyncio.Lock())

    async def _location(self, spec: UpdateSpec, base_url: str) -> str:
        if spec.location is not None:
            return spec.location
        assert spec.firmware_id is not None
        try:
            return download_url(self._files_url or base_url, await self.file(spec.firmware_id))
        except NotFound:
            raise Invalid(f"no firmware {spec.firmware_id}: upload it first") from None

    def _new(
        self, charge_point_id: str, spec: UpdateSpec, location: str, rollout_id: int | None
    ) -> FirmwareUpdate:
        now = self._clock.now()
        return FirmwareUpdate(
            id=0,
            charge_point_id=charge_point_id,
            location=location,
            retrieve_at=spec.retrieve_at,
            signed=spec.signing is not None,
            state=UpdateState.PENDING,
            created_at=now,
            updated_at=now,
            rollout_id=rollout_id,
            firmware_id=spec.firmware_id,
            retries=spec.retries,
            retry_interval_s=spec.retry_interval_s,
            install_at=spec.install_at,
            signing=spec.signing,
        )

    async def _save(self, update: FirmwareUpdate, **changes: object) -> FirmwareUpdate:
        changed = replace(update, updated_at=self._clock.now(), **changes)  # type: ignore[arg-type]
        await self._store.save_update(changed)
        return changed

    # --- what chargers report ---------------------------------------------------------------
    async def status_received(
        self, charge_point_id: str, notification: str, status: str, request_id: int | None
    ) -> None:
        """A (Signed)FirmwareStatusNotification: kept, and applied to the update it is about
        (the signed one with its requestId, else the charger's latest sent)."""
        signed = notification == "SignedFirmwareStatusNotification"
        async with self._lock(charge_point_id):
            update = await self._subject(charge_point_id, signed, request_id)
            subject = update.id if update else None
            await self._store.add_report(
                TransferReport(charge_point_id, notification, status, self._clock.now(), subject)
            )
            if update is not None:
                state = state_after(update.state, status)
                failed = state is UpdateState.FAILED
                problem = f"the charger reported {status}" if failed else None
                await self._save(update, state=state, last_status=status, problem=problem)
        if status in ALERTING_STATUSES:
            await self._alert(charge_point_id, status, update)

    async def _subject(
        self, charge_point_id: str, signed: bool, request_id: int | None
    ) -> FirmwareUpdate | None:
        if request_id is not None:
            found = await self._store.update(request_id)
            if found is not None and found.charge_point_id == charge_point_id and found.signed:
                return found
        return await self._store.latest_sent(charge_point_id, signed)

    async def _alert(
        self, charge_point_id: str, status: str, update: FirmwareUpdate | None
    ) -> None:
        security = status in SECURITY_STATUSES
        what = f"firmware from {update.location}" if update else "a firmware"
        await self._alerts.raise_alert(
            AlertKey(
                AlertKind.FIRMWARE_REJECTED if security else AlertKind.FIRMWARE_FAILED,
                charge_point_id,
            ),
            f"{charge_point_id} reported {status} for {what}"
            + (": it may not be authentic" if security else ""),
            severity=Severity.CRITICAL if security else Severity.WARNING,
            details={"status": status, "update_id": update.id if update else None},
        )

    async def state_of(self, charge_point_id: str) -> FirmwareState:
        await self._charge_points.get(charge_point_id)
        reports = await self._store.reports(charge_point_id, FIRMWARE_NOTIFICATIONS, 1, 0)
        updates = await self._store.updates_of(charge_point_id, 1, 0)
        last = reports.items[0] if reports.items else None
        return FirmwareState(
            last.status if last else None,
            last.received_at if last else None,
            updates.items[0] if updates.items else None,
        )

    async def history(self, charge_point_id: str, limit: int, offset: int) -> Page[TransferReport]:
        await self._charge_points.get(charge_point_id)
        return await self._store.reports(charge_point_id, FIRMWARE_NOTIFICATIONS, limit, offset)

    async def updates_of(
        self, charge_point_id: str, limit: int, offset: int
    ) -> Page[FirmwareUpdate]:
        await self._charge_points.get(charge_point_id)
        return await self._store.updates_of(charge_point_id, limit, offset)
