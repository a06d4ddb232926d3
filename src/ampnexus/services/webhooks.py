"""Webhooks: subscriptions to the event feed, and the dispatcher that delivers it.

Delivery is at least once, in event order per webhook, and survives crashes: the events
are in the outbox table with the changes that caused them; the dispatcher hands each event
to its matching webhooks once (a delivery row each, in one transaction with marking the
event handed out) and posts each webhook's deliveries oldest first. A delivery waits for
the one before it: a receiver that is down holds its own queue, nobody else's. Failed
attempts are retried with exponential backoff and jitter for `retry_window` (at least
24 h) after the event; then the delivery is marked failed and the next one goes.

Several AmpNexus processes may share one database: a process sends a webhook's deliveries
only while it holds that webhook's lease (a conditional UPDATE, renewed per batch), so no
delivery is sent by two processes at once and order holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import random
import secrets
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

import orjson

from ampnexus.domain.alert import AlertKey, AlertKind, Severity
from ampnexus.domain.errors import Invalid, NotFound
from ampnexus.domain.time import Clock
from ampnexus.domain.webhook import Attempt, Delivery, DeliveryStatus, Webhook
from ampnexus.services.alerts import AlertService
from ampnexus.services.feed import EventFeed, StoredEvent, check_patterns, matches
from ampnexus.services.ports import Page

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "AmpNexus-Signature"
FAILING_AFTER = 5  # consecutive failed attempts: the webhook is reported failing
# A process sends a webhook's deliveries while it holds the webhook's lease; one that died
# frees its webhooks within LEASE, and one that restarts under the same node name at once.
# Renewed when less than RENEW_BELOW is left: more than the longest post (25 s).
LEASE = timedelta(seconds=60)
RENEW_BELOW = timedelta(seconds=30)
FAN_OUT_BATCH = 500
SEND_BATCH = 50
MAX_PARALLEL_WEBHOOKS = 32
PASS_GAP_S = 0.25
RELIST = timedelta(seconds=10)


@dataclass(frozen=True, slots=True)
class Pending:
    delivery: Delivery
    event: StoredEvent


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one attempt: the delivery's new status and its next attempt."""

    delivery: Delivery
    attempt: Attempt
    at: datetime
    status: DeliveryStatus
    next_attempt_at: datetime


# Which webhooks an event goes to: (its feed sequence number, type, site) -> webhook ids.
Route = Callable[[int, str, str | None], Sequence[str]]


class WebhookStore(Protocol):
    async def add(self, webhook: Webhook) -> None: ...
    async def get(self, webhook_id: str) -> Webhook | None: ...
    async def list(self) -> Sequence[Webhook]: ...
    async def update(self, webhook_id: str, changes: Mapping[str, Any]) -> Webhook | None: ...
    async def delete(self, webhook_id: str) -> bool: ...
    async def fan_out(self, route: Route, at: datetime, limit: int) -> int:
        """Hand up to `limit` events not yet handed out to the webhooks `route` names, as
        pending deliveries; how many events were handed out."""
        ...

    async def due(self, at: datetime, limit: int) -> Sequence[str]:
        """Webhooks with a pending delivery due by `at`."""
        ...

    async def claim(self, webhook_id: str, owner: str, at: datetime, until: datetime) -> bool:
        """Take or renew the webhook's lease; False while another process holds it."""
        ...

    async def release(self, webhook_id: str, owner: str) -> None: ...
    async def pending(self, webhook_id: str, limit: int) -> Sequence[Pending]:
        """The webhook's pending deliveries, oldest event first."""
        ...

    async def record_attempts(self, webhook_id: str, outcomes: Sequence[Outcome]) -> int:
        """Store attempts, in the order made, and the webhook's health; its consecutive
        failures after them."""
        ...

    async def deliveries(
        self, webhook_id: str, status: DeliveryStatus | None, limit: int, offset: int
    ) -> Page[Delivery]: ...
    async def redeliver(self, webhook_id: str, delivery_id: int, at: datetime) -> Delivery | None:
        """A new pending delivery of that delivery's event; None: no such delivery."""
        ...

    async def prune(self, before: datetime) -> int:
        """Drop events (and their deliveries) older than `before` with nothing pending."""
        ...


class WebhookSender(Protocol):
    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Attempt: ...
    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class WebhookDraft:
    url: str
    events: tuple[str, ...]
    site_ids: tuple[str, ...] | None = None
    description: str | None = None
    enabled: bool = True


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value: `t=<unix seconds>,v1=<hex HMAC-SHA256>` over
    `<timestamp>.<body>`, keyed with the webhook's secret."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def envelope(event: StoredEvent) -> bytes:
    """The body of a delivery: `{id, type, created_at, data}`, data as stored."""
    head = orjson.dumps(
        {"id": event.uid, "type": event.type, "created_at": event.created_at.isoformat()}
    )
    return head[:-1] + b',"data":' + event.data.encode() + b"}"


def check_url(url: str, refuse_private: bool) -> None:
    """Invalid unless an http(s) URL with a host; with `refuse_private`, one whose host
    resolves to public addresses only (a hosted AmpNexus must not be a way into its own
    network). The sender checks again before each post: DNS may change."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid(f"{url!r} is not an http:// or https:// URL with a host")
    if refuse_private:
        reason = private_address(parts.hostname)
        if reason is not None:
            raise Invalid(f"{url!r}: {reason}; this server refuses private addresses")


def private_address(host: str) -> str | None:
    """Why `host` is not a public address (it resolves to a private one), or None."""
    import ipaddress

    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError as error:
        return f"{host} does not resolve ({error})"
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            return f"{host} resolves to {address}, a private or local address"
    return None


class WebhookService:
    """Subscriptions (the API's) and delivery (the dispatcher's)."""

    def __init__(
        self,
        store: WebhookStore,
        feed: EventFeed,
        sender: WebhookSender,
        clock: Clock,
        alerts: AlertService,
        *,
        refuse_private: bool = False,
        retry_window: timedelta = timedelta(hours=24),
        poll_s: float = 1.0,
        retention: timedelta = timedelta(days=7),
        rng: random.Random | None = None,
    ) -> None:
        self._store = store
        self._feed = feed
        self._sender = sender
        self._clock = clock
        self._alerts = alerts
        self._refuse_private = refuse_private
        self._retry_window = retry_window
        self._poll_s = poll_s
        self._retention = retention
        self._rng = rng or random.Random()
        self._node = f"{socket.gethostname()[:40]}-{secrets.token_hex(6)}"  # until start()
        self._sending: dict[str, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(MAX_PARALLEL_WEBHOOKS)
        self._wake = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._pruned_at: datetime | None = None
        self._listed: tuple[datetime, Sequence[Webhook]] | None = None  # (when, enabled ones)
        feed.on_committed(self._wake.set)

    # --- subscriptions -----------------------------------------------------------------
    async def create(self, draft: WebhookDraft) -> Webhook:
        await self._check(draft.url, draft.events)
        webhook = Webhook(
            id="wh_" + secrets.token_hex(8),
            url=draft.url,
            events=draft.events,
            site_ids=draft.site_ids,
            description=draft.description,
            enabled=draft.enabled,
            secret="whsec_" + secrets.token_urlsafe(32),
            created_at=self._clock.now(),
        )
        await self._store.add(webhook)
        self._listed = None
        return webhook

    async def get(self, webhook_id: str) -> Webhook:
        webhook = await self._store.get(webhook_id)
        if webhook is None:
            raise NotFound(f"webhook {webhook_id} does not exist")
        return webhook

    async def list(self) -> Sequence[Webhook]:
        return await self._store.list()

    async def update(self, webhook_id: str, changes: Mapping[str, Any]) -> Webhook:
        current = await self.get(webhook_id)
        await self._check(changes.get("url", current.url), changes.get("events", current.events))
        updated = await self._store.update(webhook_id, changes)
        if updated is None:
            raise NotFound(f"webhook {webhook_id} does not exist")
        self._listed = None
        self._wake.set()  # enabled again: its backlog goes now
        return updated

    async def delete(self, webhook_id: str) -> None:
        if not await self._store.delete(webhook_id):
            raise NotFound(f"webhook {webhook_id} does not exist")
        self._listed = None

    async def deliveries(
        self, webhook_id: str, status: DeliveryStatus | None, limit: int, offset: int
    ) -> Page[Delivery]:
        await self.get(webhook_id)
        return await self._store.deliveries(webhook_id, status, limit, offset)

    async def redeliver(self, webhook_id: str, delivery_id: int) -> Delivery:
        await self.get(webhook_id)
        delivery = await self._store.redeliver(webhook_id, delivery_id, self._clock.now())
        if delivery is None:
            raise NotFound(f"webhook {webhook_id} has no delivery {delivery_id}")
        self._wake.set()
        return delivery

    async def ping(self, webhook_id: str) -> Attempt:
        """Post a `webhook.ping` event now, signed like any delivery; not recorded."""
        webhook = await self.get(webhook_id)
        now = self._clock.now()
        data = orjson.dumps({"webhook_id": webhook.id, "at": now.isoformat()}).decode()
        event = StoredEvent(0, "ping_" + secrets.token_hex(12), "webhook.ping", now, None, data)
        return await self._post(webhook, event, attempt_number=1)

    async def _check(self, url: str, events: Sequence[str]) -> None:
        if not events:
            raise Invalid("events: name at least one event type or pattern (`*`: every event)")
        try:
            check_patterns(events)
        except ValueError as error:
            raise Invalid(f"events: {error}") from error
        await asyncio.to_thread(check_url, url, self._refuse_private)  # DNS: off the loop

    # --- delivery ----------------------------------------------------------------------
    def start(self, node: str | None = None) -> None:
        """`node`: this process's name among those sharing the database, the same after a
        restart (host and port), so it takes back its webhooks' leases at once."""
        if node is not None:
            self._node = node[:64]
        self._runner = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        tasks = [t for t in (self._runner, *self._sending.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._sender.close()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.dispatch_once()
            except Exception:
                log.exception("webhook dispatch failed; trying again shortly")
            # Under load events commit all the time: a pass at most every PASS_GAP_S takes
            # them in batches instead of a pass per commit.
            await asyncio.sleep(PASS_GAP_S)
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancel
            # that comes as the wait ends, and this loop would never stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_s):
                    await self._wake.wait()

    async def dispatch_once(self) -> None:
        """Hand out new events, start sending every webhook with a delivery due, prune."""
        now = self._clock.now()
        active = await self._active(now)
        if active:  # without webhooks the feed waits: a new one gets only what comes after it
            route = _router(active)
            while await self._store.fan_out(route, now, FAN_OUT_BATCH) == FAN_OUT_BATCH:
                pass
            for webhook_id in await self._store.due(now, 1000):
                if webhook_id not in self._sending:
                    task = asyncio.get_running_loop().create_task(self._send_queue(webhook_id))
                    self._sending[webhook_id] = task
        if self._pruned_at is None or now - self._pruned_at > timedelta(hours=1):
            self._pruned_at = now
            pruned = await self._store.prune(now - self._retention)
            if pruned:
                log.info("pruned %d feed events older than %s", pruned, self._retention)

    async def _active(self, now: datetime) -> Sequence[Webhook]:
        """The enabled webhooks, read again after a change here or every `RELIST` (changes
        other processes made)."""
        if self._listed is None or now - self._listed[0] > RELIST:
            self._listed = (now, [w for w in await self._store.list() if w.enabled])
        return self._listed[1]

    async def _send_queue(self, webhook_id: str) -> None:
        """Send the webhook's due deliveries in order while this process holds its lease;
        stop at the first failure (its retry waits, and so does everything after it)."""
        lease = _Lease(self._store, webhook_id, self._node, self._clock)
        try:
            async with self._slots:
                while await lease.hold():
                    webhook = await self._store.get(webhook_id)
                    batch = await self._store.pending(webhook_id, SEND_BATCH)
                    if webhook is None or not webhook.enabled or not batch:
                        return
                    if not await self._send_batch(webhook, batch, lease):
                        return
        except Exception:
            log.exception("webhook %s: sending failed", webhook_id)
        finally:
            self._sending.pop(webhook_id, None)
            with contextlib.suppress(Exception):
                await self._store.release(webhook_id, self._node)

    async def _send_batch(self, webhook: Webhook, batch: Sequence[Pending], lease: _Lease) -> bool:
        """True when the whole batch went (or gave up), so the next may follow. The
        outcomes are stored once for the batch: a crash before that sends them again, with
        the same event ids (at least once)."""
        outcomes: list[Outcome] = []
        try:
            for pending in batch:
                delivery = pending.delivery
                if delivery.next_attempt_at > self._clock.now() or not await lease.hold():
                    return False  # waiting to retry (it and all after it), or lease lost
                attempt = await self._post(webhook, pending.event, delivery.attempts + 1)
                outcomes.append(self._outcome(delivery, attempt))
                if outcomes[-1].status is DeliveryStatus.PENDING:
                    return False
            return True
        finally:
            if outcomes:
                failures = await self._store.record_attempts(webhook.id, outcomes)
                await self._health(webhook, outcomes[-1].attempt, failures)

    async def _post(self, webhook: Webhook, event: StoredEvent, attempt_number: int) -> Attempt:
        body = envelope(event)
        timestamp = int(self._clock.now().timestamp())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "AmpNexus-Webhooks/1",
            "AmpNexus-Event-Id": event.uid,
            "AmpNexus-Event-Type": event.type,
            "AmpNexus-Delivery-Attempt": str(attempt_number),
            SIGNATURE_HEADER: sign(webhook.secret, timestamp, body),
        }
        if self._refuse_private:  # checked at creation too; DNS may have changed since
            host = urlsplit(webhook.url).hostname or ""
            reason = await asyncio.to_thread(private_address, host)
            if reason is not None:
                return Attempt(None, f"refused: {reason}", 0.0)
        return await self._sender.post(webhook.url, body, headers)

    def _outcome(self, delivery: Delivery, attempt: Attempt) -> Outcome:
        now = self._clock.now()
        status, next_at = DeliveryStatus.DELIVERED, now
        if not attempt.ok:
            if now - delivery.created_at >= self._retry_window:
                status = DeliveryStatus.FAILED
            else:
                status = DeliveryStatus.PENDING
                next_at = now + backoff(delivery.attempts + 1, self._rng)
        return Outcome(delivery, attempt, now, status, next_at)

    async def _health(self, webhook: Webhook, attempt: Attempt, failures: int) -> None:
        key = AlertKey(AlertKind.WEBHOOK_FAILING)
        if attempt.ok and webhook.consecutive_failures >= FAILING_AFTER:
            await self._alerts.resolve(key)
        elif failures == FAILING_AFTER:
            await self._alerts.raise_alert(
                key,
                f"webhook {webhook.id} ({webhook.url}) failed {failures} times in a row "
                f"(last: {attempt.error or attempt.status_code}); its deliveries wait and are "
                f"retried for {self._retry_window} after each event",
                severity=Severity.WARNING,
                details={"webhook_id": webhook.id, "url": webhook.url},
            )


class _Lease:
    """This process's hold on a webhook's queue: taken, and renewed when less than
    `RENEW_BELOW` is left, so that a post (at most 25 s) always ends within it."""

    def __init__(self, store: WebhookStore, webhook_id: str, node: str, clock: Clock) -> None:
        self._store, self._webhook_id, self._node, self._clock = store, webhook_id, node, clock
        self._until: datetime | None = None

    async def hold(self) -> bool:
        now = self._clock.now()
        if self._until is not None and self._until - now > RENEW_BELOW:
            return True
        until = now + LEASE
        if await self._store.claim(self._webhook_id, self._node, now, until):
            self._until = until
            return True
        self._until = None
        return False


def backoff(attempts: int, rng: random.Random) -> timedelta:
    """5 s after the first failure, doubling to at most an hour; each with jitter (half to
    all of it), so receivers coming back are not hit by every sender at once."""
    seconds = min(5 * 2 ** (attempts - 1), 3600)
    return timedelta(seconds=seconds * rng.uniform(0.5, 1.0))


def _router(active: Sequence[Webhook]) -> Route:
    def route(seq: int, event_type: str, site_id: str | None) -> list[str]:
        return [
            w.id
            for w in active
            if seq > w.after_seq
            and matches(w.events, event_type)
            and (w.site_ids is None or (site_id is not None and site_id in w.site_ids))
        ]

    return route
