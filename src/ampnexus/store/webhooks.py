"""Webhooks and their deliveries in SQL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Row,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)

from ampnexus.domain.webhook import Delivery, DeliveryStatus, Webhook
from ampnexus.services.ports import Page
from ampnexus.services.webhooks import Outcome, Pending, Route
from ampnexus.store.database import Database
from ampnexus.store.feed import stored
from ampnexus.store.tables import charge_points, feed_events, webhook_deliveries, webhooks

_DELIVERY = select(webhook_deliveries, feed_events.c.uid, feed_events.c.type).join(
    feed_events, feed_events.c.seq == webhook_deliveries.c.event_seq
)
_EVENT_SITE = func.coalesce(feed_events.c.site_id, charge_points.c.site_id)
_UPDATABLE = {"url", "events", "site_ids", "description", "enabled"}
_RECORD_ATTEMPT = (
    update(webhook_deliveries)
    .where(webhook_deliveries.c.id == bindparam("key"))
    .values(
        status=bindparam("new_status"),
        attempts=webhook_deliveries.c.attempts + 1,
        next_attempt_at=bindparam("next_at"),
        last_attempt_at=bindparam("at"),
        last_status_code=bindparam("code"),
        last_error=bindparam("error"),
        last_duration_ms=bindparam("ms"),
        delivered_at=bindparam("delivered"),
    )
)


class SqlWebhookStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, webhook: Webhook) -> None:
        values = {
            "id": webhook.id,
            "url": webhook.url,
            "events": list(webhook.events),
            "site_ids": None if webhook.site_ids is None else list(webhook.site_ids),
            "description": webhook.description,
            "enabled": webhook.enabled,
            "secret": webhook.secret,
            "created_at": webhook.created_at,
            # What the feed holds now is not its to receive: it gets what comes after.
            "after_seq": select(func.coalesce(func.max(feed_events.c.seq), 0)).scalar_subquery(),
        }
        await self._db.write(lambda conn: conn.execute(insert(webhooks).values(values)))

    async def get(self, webhook_id: str) -> Webhook | None:
        query = select(webhooks).where(webhooks.c.id == webhook_id)
        row = await self._db.read(lambda conn: conn.execute(query).first())
        return None if row is None else _webhook(row)

    async def list(self) -> Sequence[Webhook]:
        query = select(webhooks).order_by(webhooks.c.created_at, webhooks.c.id)
        rows = await self._db.read(lambda conn: conn.execute(query).all())
        return [_webhook(row) for row in rows]

    async def update(self, webhook_id: str, changes: Mapping[str, Any]) -> Webhook | None:
        values = {k: (list(v) if isinstance(v, tuple) else v) for k, v in changes.items()}
        if set(values) - _UPDATABLE:
            raise ValueError(f"cannot change {sorted(set(values) - _UPDATABLE)}")

        def work(conn: Connection) -> Webhook | None:
            if values:
                conn.execute(update(webhooks).where(webhooks.c.id == webhook_id).values(values))
            row = conn.execute(select(webhooks).where(webhooks.c.id == webhook_id)).first()
            return None if row is None else _webhook(row)

        return await self._db.write(work)

    async def delete(self, webhook_id: str) -> bool:
        def work(conn: Connection) -> bool:
            conn.execute(
                delete(webhook_deliveries).where(webhook_deliveries.c.webhook_id == webhook_id)
            )
            return conn.execute(delete(webhooks).where(webhooks.c.id == webhook_id)).rowcount > 0

        return await self._db.write(work)

    async def fan_out(self, route: Route, at: datetime, limit: int) -> int:
        # SKIP LOCKED: processes sharing a PostgreSQL database take different events; each
        # event's deliveries and its mark commit together. (SQLite ignores it: one writer.)
        query = (
            select(feed_events.c.seq, feed_events.c.type, _EVENT_SITE)
            .select_from(
                feed_events.outerjoin(
                    charge_points, charge_points.c.id == feed_events.c.charge_point_id
                )
            )
            .where(feed_events.c.fanned_out.is_(False))
            .order_by(feed_events.c.seq)
            .limit(limit)
            .with_for_update(of=feed_events, skip_locked=True)
        )

        def work(conn: Connection) -> int:
            events = conn.execute(query).all()
            if not events:
                return 0
            rows = [
                {
                    "webhook_id": webhook_id,
                    "event_seq": seq,
                    "status": DeliveryStatus.PENDING.value,
                    "attempts": 0,
                    "next_attempt_at": at,
                    "created_at": at,
                }
                for seq, event_type, site_id in events
                for webhook_id in route(seq, event_type, site_id)
            ]
            if rows:
                conn.execute(insert(webhook_deliveries), rows)
            seqs = [seq for seq, _, _ in events]
            conn.execute(
                update(feed_events).where(feed_events.c.seq.in_(seqs)).values(fanned_out=True)
            )
            return len(events)

        return await self._db.write(work)

    async def due(self, at: datetime, limit: int) -> Sequence[str]:
        query = (
            select(webhook_deliveries.c.webhook_id)
            .where(
                webhook_deliveries.c.status == DeliveryStatus.PENDING.value,
                webhook_deliveries.c.next_attempt_at <= at,
            )
            .distinct()
            .limit(limit)
        )
        return await self._db.read(lambda conn: list(conn.execute(query).scalars()))

    async def claim(self, webhook_id: str, owner: str, at: datetime, until: datetime) -> bool:
        statement = (
            update(webhooks)
            .where(
                webhooks.c.id == webhook_id,
                or_(
                    webhooks.c.lease_until.is_(None),
                    webhooks.c.lease_until < at,
                    webhooks.c.lease_owner == owner,
                ),
            )
            .values(lease_owner=owner, lease_until=until)
        )
        return await self._db.write(lambda conn: conn.execute(statement).rowcount == 1)

    async def release(self, webhook_id: str, owner: str) -> None:
        statement = (
            update(webhooks)
            .where(webhooks.c.id == webhook_id, webhooks.c.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )
        await self._db.write(lambda conn: conn.execute(statement))

    async def pending(self, webhook_id: str, limit: int) -> Sequence[Pending]:
        query = (
            select(webhook_deliveries, *_event_columns())
            .join(feed_events, feed_events.c.seq == webhook_deliveries.c.event_seq)
            .outerjoin(charge_points, charge_points.c.id == feed_events.c.charge_point_id)
            .where(
                webhook_deliveries.c.webhook_id == webhook_id,
                webhook_deliveries.c.status == DeliveryStatus.PENDING.value,
            )
            .order_by(webhook_deliveries.c.event_seq, webhook_deliveries.c.id)
            .limit(limit)
        )

        def work(conn: Connection) -> list[Pending]:
            out = []
            for row in conn.execute(query):
                event = stored(row[-6:])
                out.append(Pending(_delivery(row, event.uid, event.type), event))
            return out

        return await self._db.read(work)

    async def record_attempts(self, webhook_id: str, outcomes: Sequence[Outcome]) -> int:
        rows = [
            {
                "key": o.delivery.id,
                "new_status": o.status.value,
                "next_at": o.next_attempt_at,
                "at": o.at,
                "code": o.attempt.status_code,
                "error": o.attempt.error,
                "ms": round(o.attempt.duration_ms, 1),
                "delivered": o.at if o.status is DeliveryStatus.DELIVERED else None,
            }
            for o in outcomes
        ]
        # Failures after the last success: all of them when none succeeded (added on).
        last_ok = max((i for i, o in enumerate(outcomes) if o.attempt.ok), default=None)
        failed_after = len(outcomes) - 1 - last_ok if last_ok is not None else len(outcomes)
        health: dict[str, Any]
        if last_ok is not None:
            health = {"consecutive_failures": failed_after, "last_success_at": outcomes[last_ok].at}
        else:
            health = {"consecutive_failures": webhooks.c.consecutive_failures + failed_after}
        if not outcomes[-1].attempt.ok:
            health["last_failure_at"] = outcomes[-1].at

        def work(conn: Connection) -> int:
            conn.execute(_RECORD_ATTEMPT, rows)
            where = webhooks.c.id == webhook_id
            conn.execute(update(webhooks).where(where).values(health))
            failures = conn.execute(select(webhooks.c.consecutive_failures).where(where))
            return int(failures.scalar() or 0)

        return await self._db.write(work)

    async def deliveries(
        self, webhook_id: str, status: DeliveryStatus | None, limit: int, offset: int
    ) -> Page[Delivery]:
        conditions = [webhook_deliveries.c.webhook_id == webhook_id]
        if status is not None:
            conditions.append(webhook_deliveries.c.status == status.value)

        def work(conn: Connection) -> Page[Delivery]:
            total = conn.scalar(select(func.count()).where(*conditions)) or 0
            rows = conn.execute(
                _DELIVERY.where(*conditions)
                .order_by(webhook_deliveries.c.id.desc())
                .limit(limit)
                .offset(offset)
            )
            return Page([_delivery(row, row.uid, row.type) for row in rows], total)

        return await self._db.read(work)

    async def redeliver(self, webhook_id: str, delivery_id: int, at: datetime) -> Delivery | None:
        def work(conn: Connection) -> Delivery | None:
            seq = conn.execute(
                select(webhook_deliveries.c.event_seq).where(
                    webhook_deliveries.c.id == delivery_id,
                    webhook_deliveries.c.webhook_id == webhook_id,
                )
            ).scalar()
            if seq is None:
                return None
            new_id = conn.execute(
                insert(webhook_deliveries)
                .values(
                    webhook_id=webhook_id,
                    event_seq=seq,
                    status=DeliveryStatus.PENDING.value,
                    attempts=0,
                    next_attempt_at=at,
                    created_at=at,
                )
                .returning(webhook_deliveries.c.id)
            ).scalar_one()
            row = conn.execute(_DELIVERY.where(webhook_deliveries.c.id == new_id)).one()
            return _delivery(row, row.uid, row.type)

        return await self._db.write(work)

    async def prune(self, before: datetime) -> int:
        pending = exists().where(
            and_(
                webhook_deliveries.c.event_seq == feed_events.c.seq,
                webhook_deliveries.c.status == DeliveryStatus.PENDING.value,
            )
        )
        old = select(feed_events.c.seq).where(feed_events.c.created_at < before, ~pending)

        def work(conn: Connection) -> int:
            seqs = list(conn.execute(old.limit(10_000)).scalars())
            if not seqs:
                return 0
            conn.execute(delete(webhook_deliveries).where(webhook_deliveries.c.event_seq.in_(seqs)))
            return conn.execute(delete(feed_events).where(feed_events.c.seq.in_(seqs))).rowcount

        return await self._db.write(work)


def _event_columns() -> tuple[Any, ...]:
    return (
        feed_events.c.seq.label("feed_seq"),
        feed_events.c.uid,
        feed_events.c.type,
        feed_events.c.created_at.label("feed_created_at"),
        _EVENT_SITE.label("feed_site"),
        feed_events.c.data,
    )


def _webhook(row: Row[Any]) -> Webhook:
    return Webhook(
        id=row.id,
        url=row.url,
        events=tuple(row.events),
        site_ids=None if row.site_ids is None else tuple(row.site_ids),
        description=row.description,
        enabled=row.enabled,
        secret=row.secret,
        created_at=row.created_at,
        consecutive_failures=row.consecutive_failures,
        last_success_at=row.last_success_at,
        last_failure_at=row.last_failure_at,
        after_seq=row.after_seq,
    )


def _delivery(row: Row[Any], uid: str, event_type: str) -> Delivery:
    return Delivery(
        id=row.id,
        webhook_id=row.webhook_id,
        event_seq=row.event_seq,
        event_uid=uid,
        event_type=event_type,
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at,
        last_attempt_at=row.last_attempt_at,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        last_duration_ms=row.last_duration_ms,
        delivered_at=row.delivered_at,
    )
