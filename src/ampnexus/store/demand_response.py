"""Demand-response programs and events in SQL (`services.ports.DemandResponseStore`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from ampnexus.domain.demand_response import (
    Event,
    EventStatus,
    Interval,
    LevelCuts,
    OptState,
    Program,
)
from ampnexus.domain.errors import Conflict, NotFound
from ampnexus.domain.time import parse_timestamp
from ampnexus.services.feed import Announce
from ampnexus.store.database import Database
from ampnexus.store.feed import announced
from ampnexus.store.tables import dr_events, dr_programs
from ampnexus.store.upsert import upsert


class SqlDemandResponseStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add_program(self, program: Program, at: datetime) -> None:
        values = {**_program_values(program), "created_at": at, "updated_at": at}
        try:
            await self._db.write(lambda conn: conn.execute(insert(dr_programs).values(values)))
        except IntegrityError as error:
            raise Conflict(f"a program {program.id!r} exists") from error

    async def update_program(self, program: Program, at: datetime) -> None:
        def work(conn: Connection) -> None:
            changed = conn.execute(
                update(dr_programs)
                .where(dr_programs.c.id == program.id)
                .values(**_program_values(program), updated_at=at)
            )
            if changed.rowcount == 0:
                raise NotFound(f"no program {program.id!r}")

        await self._db.write(work)

    async def delete_program(self, program_id: str) -> bool:
        def work(conn: Connection) -> bool:
            conn.execute(delete(dr_events).where(dr_events.c.program_id == program_id))
            gone = conn.execute(delete(dr_programs).where(dr_programs.c.id == program_id))
            return gone.rowcount > 0

        return await self._db.write(work)

    async def program(self, program_id: str) -> Program | None:
        def work(conn: Connection) -> Program | None:
            row = conn.execute(select(dr_programs).where(dr_programs.c.id == program_id)).first()
            return _program(row) if row else None

        return await self._db.read(work)

    async def programs(self) -> list[Program]:
        def work(conn: Connection) -> list[Program]:
            rows = conn.execute(select(dr_programs).order_by(dr_programs.c.id))
            return [_program(row) for row in rows]

        return await self._db.read(work)

    async def set_ven_id(self, program_id: str, ven_id: str | None) -> None:
        def work(conn: Connection) -> None:
            conn.execute(
                update(dr_programs).where(dr_programs.c.id == program_id).values(ven_id=ven_id)
            )

        await self._db.write(work)

    async def put_event(self, event: Event, announce: Announce[bool] | None = None) -> bool:
        key = {"program_id": event.program_id, "event_id": event.event_id}

        def work(conn: Connection) -> bool:
            stored = conn.execute(
                select(dr_events.c.modification_number).where(
                    dr_events.c.program_id == event.program_id,
                    dr_events.c.event_id == event.event_id,
                )
            ).scalar()
            if stored is not None and stored > event.modification_number:
                return False  # a late copy of an older modification
            upsert(conn, dr_events, key, _event_values(event))
            return True

        return await self._db.write(work, announced(announce))

    async def events(
        self,
        ending_after: datetime | None = None,
        program_id: str | None = None,
        starting_before: datetime | None = None,
    ) -> list[Event]:
        conditions: list[Any] = []
        if ending_after is not None:
            conditions.append(dr_events.c.end_at > ending_after)
        if starting_before is not None:
            conditions.append(dr_events.c.start_at < starting_before)
        if program_id is not None:
            conditions.append(dr_events.c.program_id == program_id)

        def work(conn: Connection) -> list[Event]:
            rows = conn.execute(
                select(dr_events)
                .where(*conditions)
                .order_by(dr_events.c.start_at, dr_events.c.program_id, dr_events.c.event_id)
            )
            return [_event(row) for row in rows]

        return await self._db.read(work)


def _program_values(program: Program) -> dict[str, Any]:
    return {
        "id": program.id,
        "vtn_url": program.vtn_url,
        "ven_name": program.ven_name,
        "site_ids": list(program.site_ids),
        "poll_interval_s": program.poll_interval_s,
        "opt_out": program.opt_out,
        "level_cuts": list(program.level_cuts),
        "ven_id": program.ven_id,
        "opt_out_site_ids": list(program.opt_out_site_ids),
        "cert_file": program.cert_file,
        "key_file": program.key_file,
        "ca_file": program.ca_file,
        "vtn_fingerprint": program.vtn_fingerprint,
    }


def _program(row: Row[Any]) -> Program:
    cuts: LevelCuts = tuple(float(c) for c in row.level_cuts)  # type: ignore[assignment]
    return Program(
        id=row.id,
        vtn_url=row.vtn_url,
        ven_name=row.ven_name,
        site_ids=tuple(row.site_ids),
        poll_interval_s=row.poll_interval_s,
        opt_out=row.opt_out,
        level_cuts=cuts,
        ven_id=row.ven_id,
        opt_out_site_ids=tuple(row.opt_out_site_ids or ()),
        cert_file=row.cert_file,
        key_file=row.key_file,
        ca_file=row.ca_file,
        vtn_fingerprint=row.vtn_fingerprint,
    )


def _event_values(event: Event) -> dict[str, Any]:
    return {
        "modification_number": event.modification_number,
        "status": event.status.value,
        "signal_name": event.signal_name,
        "signal_type": event.signal_type,
        "intervals": [
            [i.start.isoformat(), i.duration.total_seconds(), i.value] for i in event.intervals
        ],
        "site_ids": list(event.site_ids),
        "opt": event.opt.value,
        "opt_reason": event.opt_reason,
        "watts_per_unit": event.watts_per_unit,
        "start_at": event.start,
        "end_at": event.end,
        "received_at": event.received_at,
        "opted_out_sites": [list(pair) for pair in event.opted_out],
    }


def _event(row: Row[Any]) -> Event:
    return Event(
        program_id=row.program_id,
        event_id=row.event_id,
        modification_number=row.modification_number,
        status=EventStatus(row.status),
        signal_name=row.signal_name,
        signal_type=row.signal_type,
        intervals=tuple(
            Interval(parse_timestamp(start), timedelta(seconds=seconds), float(value))
            for start, seconds, value in row.intervals
        ),
        site_ids=tuple(row.site_ids),
        opt=OptState(row.opt),
        opt_reason=row.opt_reason,
        received_at=row.received_at,
        watts_per_unit=row.watts_per_unit,
        opted_out=tuple((str(site), str(why)) for site, why in row.opted_out_sites or ()),
    )
