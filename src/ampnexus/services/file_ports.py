"""The ports the firmware and upload services need: where files lie, where their records
are kept, and the commands that send chargers after them."""

from __future__ import annotations

from collections.abc import AsyncIterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from ampnexus.domain.commands import Answer
from ampnexus.domain.errors import Invalid
from ampnexus.domain.firmware import (
    FirmwareFile,
    FirmwareUpdate,
    LogRequestStatus,
    Rollout,
    SignedUpdateStatus,
    TransferReport,
    UploadKind,
    UploadOptions,
    UploadRequest,
)
from ampnexus.services.ports import Page


class TooLarge(Invalid):
    """A file over its size limit (HTTP 413)."""


@dataclass(frozen=True, slots=True)
class StoredFile:
    size: int
    sha256: str


class FileStore(Protocol):
    """Files by area ("firmware", "uploads") and key; a file is whole or absent."""

    async def save(
        self, area: str, key: str, chunks: AsyncIterable[bytes], max_bytes: int
    ) -> StoredFile:
        """Raises TooLarge (and keeps nothing) past `max_bytes`."""
        ...

    def path(self, area: str, key: str) -> Path | None: ...

    async def delete(self, area: str, key: str) -> None: ...


class FirmwareStore(Protocol):
    async def add_file(
        self, name: str, stored: StoredFile, token: str, at: datetime
    ) -> FirmwareFile: ...

    async def files(self, limit: int, offset: int) -> Page[FirmwareFile]: ...

    async def file(self, firmware_id: int) -> FirmwareFile | None: ...

    async def file_by_token(self, token: str) -> FirmwareFile | None: ...

    async def delete_file(self, firmware_id: int) -> bool: ...

    async def add_rollout(
        self, location: str, signed: bool, firmware_id: int | None, at: datetime
    ) -> int: ...

    async def add_update(self, update: FirmwareUpdate) -> FirmwareUpdate:
        """Stores `update` (its id is ignored) and returns it with its id."""
        ...

    async def save_update(self, update: FirmwareUpdate) -> None: ...

    async def update(self, update_id: int) -> FirmwareUpdate | None: ...

    async def updates_of(
        self, charge_point_id: str, limit: int, offset: int
    ) -> Page[FirmwareUpdate]: ...

    async def latest_sent(self, charge_point_id: str, signed: bool) -> FirmwareUpdate | None: ...

    async def unsent(self, charge_point_id: str) -> Sequence[FirmwareUpdate]:
        """The charger's updates still waiting to be sent, oldest first."""
        ...

    async def rollout(self, rollout_id: int) -> Rollout | None: ...

    async def add_report(self, report: TransferReport) -> None: ...

    async def reports(
        self, charge_point_id: str, notifications: Sequence[str], limit: int, offset: int
    ) -> Page[TransferReport]: ...


class UploadStore(Protocol):
    async def add_request(self, request: UploadRequest) -> UploadRequest: ...

    async def save_request(self, request: UploadRequest) -> None: ...

    async def request(self, request_id: int) -> UploadRequest | None: ...

    async def by_token(self, token: str) -> UploadRequest | None: ...

    async def requests_of(
        self, charge_point_id: str, kinds: Sequence[UploadKind], limit: int, offset: int
    ) -> Page[UploadRequest]: ...

    async def latest(
        self, charge_point_id: str, kinds: Sequence[UploadKind]
    ) -> UploadRequest | None: ...

    async def add_report(self, report: TransferReport) -> None: ...


class FileCommands(Protocol):
    """The commands that send a charger after a file or have it upload one. Each raises
    what ChargerCommands' do (not connected, timeout, CALLERROR)."""

    async def update_firmware(self, update: FirmwareUpdate) -> Mapping[str, Any]: ...

    async def signed_update_firmware(
        self, update: FirmwareUpdate
    ) -> Answer[SignedUpdateStatus]: ...

    async def get_diagnostics(
        self, charge_point_id: str, location: str, options: UploadOptions
    ) -> Mapping[str, Any]: ...

    async def get_log(
        self, request: UploadRequest, location: str, options: UploadOptions
    ) -> Answer[LogRequestStatus]: ...
