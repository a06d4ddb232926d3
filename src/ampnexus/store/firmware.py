"""Firmware files, updates, rollouts, upload requests and their status reports in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select, update

from ampnexus.domain.firmware import (
    FirmwareFile,
    FirmwareUpdate,
    Rollout,
    Signing,
    TransferReport,
    UpdateState,
    UploadKind,
    UploadRequest,
)
from ampnexus.services.file_ports import StoredFile
from ampnexus.services.ports import Page
from ampnexus.store.database import Database
from ampnexus.store.tables import (
    firmware_files,
    firmware_rollouts,
    firmware_updates,
    transfer_reports,
    upload_requests,
)


class SqlFileTransferStore:
    """Both FirmwareStore and UploadStore."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # --- firmware files ---------------------------------------------------------------------
    async def add_file(
        self, name: str, stored: StoredFile, token: str, at: datetime
    ) -> FirmwareFile:
        values = {
            "name": name,
            "size": stored.size,
            "sha256": stored.sha256,
            "token": token,
            "uploaded_at": at,
        }

        def work(conn: Connection) -> int:
            return int(
                conn.execute(
                    insert(firmware_files).values(values).returning(firmware_files.c.id)
                ).scalar_one()
            )

        firmware_id = await self._db.write(work)
        return FirmwareFile(firmware_id, name, stored.size, stored.sha256, token, at)

    async def files(self, limit: int, offset: int) -> Page[FirmwareFile]:
        def work(conn: Connection) -> Page[FirmwareFile]:
            total = conn.scalar(select(func.count()).select_from(firmware_files)) or 0
            rows = conn.execute(
                select(firmware_files)
                .order_by(firmware_files.c.id.desc())
                .limit(limit)
                .offset(offset)
            )
            return Page([_file(row) for row in rows], total)

        return await self._db.read(work)

    async def file(self, firmware_id: int) -> FirmwareFile | None:
        return await self._one_file(firmware_files.c.id == firmware_id)

    async def file_by_token(self, token: str) -> FirmwareFile | None:
        return await self._one_file(firmware_files.c.token == token)

    async def _one_file(self, condition: Any) -> FirmwareFile | None:
        def work(conn: Connection) -> FirmwareFile | None:
            row = conn.execute(select(firmware_files).where(condition)).first()
            return _file(row) if row else None

        return await self._db.read(work)

    async def delete_file(self, firmware_id: int) -> bool:
        def work(conn: Connection) -> bool:
            gone = conn.execute(delete(firmware_files).where(firmware_files.c.id == firmware_id))
            return gone.rowcount > 0

        return await self._db.write(work)

    # --- updates and rollouts ---------------------------------------------------------------
    async def add_rollout(
        self, location: str, signed: bool, firmware_id: int | None, at: datetime
    ) -> int:
        values = {
            "location": location,
            "signed": signed,
            "firmware_id": firmware_id,
            "created_at": at,
        }

        def work(conn: Connection) -> int:
            return int(
                conn.execute(
                    insert(firmware_rollouts).values(values).returning(firmware_rollouts.c.id)
                ).scalar_one()
            )

        return await self._db.write(work)

    async def add_update(self, update_: FirmwareUpdate) -> FirmwareUpdate:
        values = _update_values(update_) | {
            "charge_point_id": update_.charge_point_id,
            "rollout_id": update_.rollout_id,
            "firmware_id": update_.firmware_id,
            "created_at": update_.created_at,
        }

        def work(conn: Connection) -> FirmwareUpdate:
            new_id = conn.execute(
                insert(firmware_updates).values(values).returning(firmware_updates.c.id)
            ).scalar_one()
            return _update(conn.execute(select(firmware_updates).where(_id_is(new_id))).one())

        return await self._db.write(work)

    async def save_update(self, update_: FirmwareUpdate) -> None:
        values = _update_values(update_)
        await self._db.write(
            lambda conn: conn.execute(
                update(firmware_updates).where(_id_is(update_.id)).values(values)
            )
        )

    async def update(self, update_id: int) -> FirmwareUpdate | None:
        return await self._one_update(select(firmware_updates).where(_id_is(update_id)))

    async def updates_of(
        self, charge_point_id: str, limit: int, offset: int
    ) -> Page[FirmwareUpdate]:
        mine = firmware_updates.c.charge_point_id == charge_point_id

        def work(conn: Connection) -> Page[FirmwareUpdate]:
            total = conn.scalar(select(func.count()).select_from(firmware_updates).where(mine))
            rows = conn.execute(
                select(firmware_updates)
                .where(mine)
                .order_by(firmware_updates.c.id.desc())
                .limit(limit)
                .offset(offset)
            )
            return Page([_update(row) for row in rows], total or 0)

        return await self._db.read(work)

    async def latest_sent(self, charge_point_id: str, signed: bool) -> FirmwareUpdate | None:
        columns = firmware_updates.c
        return await self._one_update(
            select(firmware_updates)
            .where(
                columns.charge_point_id == charge_point_id,
                columns.signed == signed,
                columns.sent_at.is_not(None),
            )
            .order_by(columns.id.desc())
            .limit(1)
        )

    async def unsent(self, charge_point_id: str) -> Sequence[FirmwareUpdate]:
        columns = firmware_updates.c

        def work(conn: Connection) -> list[FirmwareUpdate]:
            rows = conn.execute(
                select(firmware_updates)
                .where(
                    columns.charge_point_id == charge_point_id,
                    columns.sent_at.is_(None),
                    columns.state == UpdateState.PENDING.value,
                )
                .order_by(columns.id)
            )
            return [_update(row) for row in rows]

        return await self._db.read(work)

    async def _one_update(self, query: Any) -> FirmwareUpdate | None:
        def work(conn: Connection) -> FirmwareUpdate | None:
            row = conn.execute(query).first()
            return _update(row) if row else None

        return await self._db.read(work)

    async def rollout(self, rollout_id: int) -> Rollout | None:
        def work(conn: Connection) -> Rollout | None:
            row = conn.execute(
                select(firmware_rollouts).where(firmware_rollouts.c.id == rollout_id)
            ).first()
            if row is None:
                return None
            updates = conn.execute(
                select(firmware_updates)
                .where(firmware_updates.c.rollout_id == rollout_id)
                .order_by(firmware_updates.c.charge_point_id)
            )
            return Rollout(
                row.id,
                row.location,
                row.signed,
                row.created_at,
                row.firmware_id,
                tuple(_update(update_row) for update_row in updates),
            )

        return await self._db.read(work)

    # --- reports ------------------------------------------------------------------------------
    async def add_report(self, report: TransferReport) -> None:
        values = {
            "charge_point_id": report.charge_point_id,
            "notification": report.notification,
            "status": report.status,
            "subject_id": report.subject_id,
            "received_at": report.received_at,
        }
        await self._db.write(lambda conn: conn.execute(insert(transfer_reports).values(values)))

    async def reports(
        self, charge_point_id: str, notifications: Sequence[str], limit: int, offset: int
    ) -> Page[TransferReport]:
        columns = transfer_reports.c
        conditions = (
            columns.charge_point_id == charge_point_id,
            columns.notification.in_(list(notifications)),
        )

        def work(conn: Connection) -> Page[TransferReport]:
            total = conn.scalar(
                select(func.count()).select_from(transfer_reports).where(*conditions)
            )
            rows = conn.execute(
                select(transfer_reports)
                .where(*conditions)
                .order_by(columns.id.desc())
                .limit(limit)
                .offset(offset)
            )
            return Page([_report(row) for row in rows], total or 0)

        return await self._db.read(work)

    # --- upload requests -----------------------------------------------------------------------
    async def add_request(self, request: UploadRequest) -> UploadRequest:
        values = _request_values(request) | {
            "charge_point_id": request.charge_point_id,
            "kind": request.kind.value,
            "token": request.token,
            "created_at": request.created_at,
        }

        def work(conn: Connection) -> UploadRequest:
            new_id = conn.execute(
                insert(upload_requests).values(values).returning(upload_requests.c.id)
            ).scalar_one()
            query = select(upload_requests).where(upload_requests.c.id == new_id)
            return _request(conn.execute(query).one())

        return await self._db.write(work)

    async def save_request(self, request: UploadRequest) -> None:
        values = _request_values(request)
        await self._db.write(
            lambda conn: conn.execute(
                update(upload_requests).where(upload_requests.c.id == request.id).values(values)
            )
        )

    async def request(self, request_id: int) -> UploadRequest | None:
        return await self._one_request(
            select(upload_requests).where(upload_requests.c.id == request_id)
        )

    async def by_token(self, token: str) -> UploadRequest | None:
        return await self._one_request(
            select(upload_requests).where(upload_requests.c.token == token)
        )

    async def latest(
        self, charge_point_id: str, kinds: Sequence[UploadKind]
    ) -> UploadRequest | None:
        columns = upload_requests.c
        return await self._one_request(
            select(upload_requests)
            .where(columns.charge_point_id == charge_point_id, columns.kind.in_(kinds))
            .order_by(columns.id.desc())
            .limit(1)
        )

    async def requests_of(
        self, charge_point_id: str, kinds: Sequence[UploadKind], limit: int, offset: int
    ) -> Page[UploadRequest]:
        columns = upload_requests.c
        conditions = (columns.charge_point_id == charge_point_id, columns.kind.in_(kinds))

        def work(conn: Connection) -> Page[UploadRequest]:
            total = conn.scalar(
                select(func.count()).select_from(upload_requests).where(*conditions)
            )
            rows = conn.execute(
                select(upload_requests)
                .where(*conditions)
                .order_by(columns.id.desc())
                .limit(limit)
                .offset(offset)
            )
            return Page([_request(row) for row in rows], total or 0)

        return await self._db.read(work)

    async def _one_request(self, query: Any) -> UploadRequest | None:
        def work(conn: Connection) -> UploadRequest | None:
            row = conn.execute(query).first()
            return _request(row) if row else None

        return await self._db.read(work)


def _id_is(update_id: int) -> Any:
    return firmware_updates.c.id == update_id


def _file(row: Row[Any]) -> FirmwareFile:
    return FirmwareFile(row.id, row.name, row.size, row.sha256, row.token, row.uploaded_at)


def _update_values(update_: FirmwareUpdate) -> dict[str, Any]:
    """The columns an update may change over its life (and the ones it is made with)."""
    signing = update_.signing
    return {
        "location": update_.location,
        "signed": update_.signed,
        "retrieve_at": update_.retrieve_at,
        "install_at": update_.install_at,
        "retries": update_.retries,
        "retry_interval": update_.retry_interval_s,
        "signing_certificate": signing.certificate if signing else None,
        "signature": signing.signature if signing else None,
        "state": update_.state.value,
        "answer": update_.answer,
        "last_status": update_.last_status,
        "problem": update_.problem,
        "sent_at": update_.sent_at,
        "updated_at": update_.updated_at,
    }


def _update(row: Row[Any]) -> FirmwareUpdate:
    signing = None
    if row.signing_certificate is not None and row.signature is not None:
        signing = Signing(row.signing_certificate, row.signature)
    return FirmwareUpdate(
        id=row.id,
        charge_point_id=row.charge_point_id,
        location=row.location,
        retrieve_at=row.retrieve_at,
        signed=row.signed,
        state=UpdateState(row.state),
        created_at=row.created_at,
        updated_at=row.updated_at,
        rollout_id=row.rollout_id,
        firmware_id=row.firmware_id,
        retries=row.retries,
        retry_interval_s=row.retry_interval,
        install_at=row.install_at,
        signing=signing,
        sent_at=row.sent_at,
        answer=row.answer,
        last_status=row.last_status,
        problem=row.problem,
    )


def _report(row: Row[Any]) -> TransferReport:
    return TransferReport(
        row.charge_point_id, row.notification, row.status, row.received_at, row.subject_id
    )


def _request_values(request: UploadRequest) -> dict[str, Any]:
    return {
        "answer": request.answer,
        "file_name": request.file_name,
        "status": request.status,
        "size": request.size,
        "sha256": request.sha256,
        "uploaded_at": request.uploaded_at,
    }


def _request(row: Row[Any]) -> UploadRequest:
    return UploadRequest(
        id=row.id,
        charge_point_id=row.charge_point_id,
        kind=UploadKind(row.kind),
        token=row.token,
        created_at=row.created_at,
        answer=row.answer,
        file_name=row.file_name,
        status=row.status,
        size=row.size,
        sha256=row.sha256,
        uploaded_at=row.uploaded_at,
    )
