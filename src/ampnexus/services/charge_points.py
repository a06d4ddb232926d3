"""Registering chargers, admitting their connections, and what they report about themselves."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from ampnexus.domain.charge_point import BootInfo, ChargePoint, Connector, RegistrationStatus
from ampnexus.domain.errors import Conflict, Invalid, NotFound
from ampnexus.domain.events import (
    ChargerBooted,
    ChargerConnected,
    ChargerDisconnected,
    ConnectorStatusChanged,
)
from ampnexus.domain.time import Clock
from ampnexus.services.admission import AdmissionThrottle, Refusal
from ampnexus.services.ports import ChargePointStore, EventPublisher, Page, StatusRecord
from ampnexus.services.presence import Presence
from ampnexus.services.secrets import PasswordChecksBusy, PasswordHasher

# Identity travels in the URL and as the Basic-auth user name, so no ':' or '/'.
CHARGE_POINT_ID = re.compile(r"^[A-Za-z0-9._\-]{1,48}$")
# OCPP security whitepaper: the AuthorizationKey is 16 to 40 characters.
PASSWORD_LENGTH = range(16, 41)


# Called with None when the charge point was deleted.
RegistrationListener = Callable[[str, RegistrationStatus | None], Awaitable[None]]


class UnknownChargers(Enum):
    REJECT = "reject"
    PENDING = "pending"


class Admission(Enum):
    ADMITTED = "admitted"
    REGISTERED_PENDING = "registered pending"  # unknown, now stored as Pending: admitted
    UNKNOWN = "unknown"
    UNAUTHORIZED = "unauthorized"
    NEEDS_TLS = "needs TLS"  # profile 2 or 3 over plain ws://
    NEEDS_CERTIFICATE = "needs certificate"  # profile 3 without its own client certificate


@dataclass(frozen=True, slots=True)
class Transport:
    """How a connection reached the gateway: over TLS or not, and the subject CN of the
    client certificate the TLS handshake verified against our CA (None: no such certificate)."""

    tls: bool = False
    client_cn: str | None = None
    client_organization: str | None = None  # its subject's O


PLAIN = Transport()

# What the operator must configure before chargers may be given a profile.
_PROFILE_NEEDS = {
    2: "security profile 2 needs TLS: start AmpNexus with --tls-cert and --tls-key",
    3: "security profile 3 needs client certificates checked against a CA: start AmpNexus "
    "with --tls-cert, --tls-key and --tls-ca (or --charger-ca-dir)",
}


@dataclass(frozen=True, slots=True)
class ChargePointView:
    """A charger as the API shows it: stored facts plus live presence."""

    charge_point: ChargePoint
    connected: bool


class ChargePointService:
    def __init__(
        self,
        store: ChargePointStore,
        presence: Presence,
        clock: Clock,
        heartbeat_interval: int,
        unknown_chargers: UnknownChargers = UnknownChargers.REJECT,
        events: EventPublisher | None = None,
        max_security_profile: int = 1,
        throttle: AdmissionThrottle | None = None,
        hasher: PasswordHasher | None = None,
        organization: str | None = None,
    ) -> None:
        """`organization`: the CPO name a profile 3 charger's certificate must hold as its O
        (whitepaper A00.FR.404); None: its O is not checked."""
        self._events = events
        self._organization = organization
        self.max_security_profile = max_security_profile  # 2 with TLS, 3 with a client CA
        self._throttle = throttle or AdmissionThrottle()
        self._hasher = hasher or PasswordHasher()
        self._store = store
        self._presence = presence
        self._clock = clock
        self.heartbeat_interval = heartbeat_interval
        self.unknown_chargers = unknown_chargers
        # Successful password checks, keyed by a per-process HMAC of the secret, so a
        # reconnect storm does not pay scrypt once per charger and per reconnect.
        self._verified: dict[str, bytes] = {}
        self._cache_key = secrets.token_bytes(32)
        self._registration_listeners: list[RegistrationListener] = []
        # Each connector's last reported (status, error code): the feed tells changes only.
        self._reported: dict[tuple[str, int], tuple[str, str]] = {}
        # A new AuthorizationKey's hash while the charger is being given it: it may reconnect
        # with it before its answer is read and stored.
        self._offered: dict[str, str] = {}

    def on_registration_changed(self, listener: RegistrationListener) -> None:
        """Called after an operator accepts, rejects, parks or deletes a charger."""
        self._registration_listeners.append(listener)

    # --- operator side -------------------------------------------------------------
    async def register(
        self,
        charge_point_id: str,
        *,
        password: str | None,
        security_profile: int | None,
        description: str | None = None,
        registration_status: RegistrationStatus = RegistrationStatus.ACCEPTED,
    ) -> ChargePointView:
        check_charge_point_id(charge_point_id)
        profile = _security_profile(password, security_profile)
        self._check_served(profile)
        if await self._store.get(charge_point_id) is not None:
            raise Conflict(f"charge point {charge_point_id!r} is already registered")
        charge_point = ChargePoint(
            id=charge_point_id,
            security_profile=profile,
            registration_status=registration_status,
            description=description,
            password_hash=await self._hasher.hash(password) if password else None,
            created_at=self._clock.now(),
        )
        await self._store.add(charge_point)
        return await self.get(charge_point_id)

    async def get(self, charge_point_id: str) -> ChargePointView:
        charge_point = await self._store.get(charge_point_id)
        if charge_point is None:
            raise NotFound(f"charge point {charge_point_id!r} is not registered")
        return self._view(charge_point)

    async def list(self, limit: int, offset: int) -> Page[ChargePointView]:
        page = await self._store.list(limit, offset)
        return Page([self._view(cp) for cp in page.items], page.total)

    async def update(self, charge_point_id: str, changes: dict[str, Any]) -> ChargePointView:
        current = (await self.get(charge_point_id)).charge_point
        stored: dict[str, Any] = {}
        if "description" in changes:
            stored["description"] = changes["description"]
        if "registration_status" in changes:
            stored["registration_status"] = RegistrationStatus(changes["registration_status"])
        if "password" in changes or "security_profile" in changes:
            password = changes.get("password")
            profile = changes.get("security_profile", current.security_profile)
            if password is None and profile in (1, 2) and current.password_hash is None:
                raise Invalid(f"security profile {profile} needs a password")
            stored["security_profile"] = _security_profile(password, profile, update=True)
            if profile != current.security_profile:
                self._check_served(profile)
            if password is not None:
                stored["password_hash"] = await self._hasher.hash(password)
            elif stored["security_profile"] in (0, 3):
                # Profile 3 authenticates by certificate: a password left behind would let a
                # later switch to profile 2 accept it without the operator giving it anew.
                stored["password_hash"] = None
            self._forget_verified(charge_point_id)
        if stored:
            await self._store.update(charge_point_id, stored)
        status = stored.get("registration_status")
        if status is not None and status is not current.registration_status:
            for listener in self._registration_listeners:
                await listener(charge_point_id, status)
        return await self.get(charge_point_id)

    async def delete(self, charge_point_id: str) -> None:
        if not await self._store.delete(charge_point_id):
            raise NotFound(f"charge point {charge_point_id!r} is not registered")
        self._forget_verified(charge_point_id)
        self._presence.forget(charge_point_id)
        for key in [k for k in self._reported if k[0] == charge_point_id]:
            del self._reported[key]
        for listener in self._registration_listeners:
            await listener(charge_point_id, None)

    async def status_history(
        self, charge_point_id: str, limit: int, offset: int
    ) -> Page[StatusRecord]:
        await self.get(charge_point_id)
        return await self._store.status_history(charge_point_id, limit, offset)

    # --- credentials changed over OCPP (security extension) ----------------------------
    async def offer_password(self, charge_point_id: str, password: str) -> None:
        """A new AuthorizationKey about to be sent: admitted next to the stored one until
        `confirm_password` or `withdraw_password`."""
        if len(password) not in PASSWORD_LENGTH:
            raise Invalid("password must be 16 to 40 characters (OCPP AuthorizationKey)")
        self._offered[charge_point_id] = await self._hasher.hash(password)

    async def confirm_password(self, charge_point_id: str) -> None:
        """The charger took the offered key: it replaces the old one, which stops working."""
        offered = self._offered.pop(charge_point_id)
        await self._store.update(charge_point_id, {"password_hash": offered})
        self._forget_verified(charge_point_id)

    def withdraw_password(self, charge_point_id: str) -> None:
        self._offered.pop(charge_point_id, None)

    async def raise_profile(self, charge_point_id: str, profile: int) -> None:
        """The charger took a higher security profile. Profile 3 authenticates by
        certificate: its password goes (a password left behind could later be accepted)."""
        changes: dict[str, Any] = {"security_profile": profile}
        if profile == 3:
            changes["password_hash"] = None
        await self._store.update(charge_point_id, changes)
        self._forget_verified(charge_point_id)

    def check_served(self, profile: int) -> None:
        """Invalid when this server cannot serve `profile` (no TLS, or no client CA)."""
        self._check_served(profile)

    # --- charger side ----------------------------------------------------------------
    async def admit(
        self,
        charge_point_id: str,
        password: str | None,
        transport: Transport = PLAIN,
        *,
        username: str | None = None,
        address: str | None = None,
    ) -> Admission | Refusal:
        """Decide on a WebSocket upgrade before it happens. Profiles 2 and 3 need TLS, and
        profile 3 a client certificate with the charger's id as CN instead of a password:
        a charger is never let in with less than its profile asks. Failures from `address`
        (the peer) are throttled, see services/admission.py."""
        refusal = self._throttle.refusal(charge_point_id, address)
        if refusal is not None:
            return refusal
        try:
            admission = await self._check(charge_point_id, username, password, transport)
        except PasswordChecksBusy:
            return self._throttle.busy()
        if admission is Admission.REGISTERED_PENDING:
            # Admitted, but each new id is a row: counted like a failure per address, so a
            # stranger inventing ids cannot grow the table without limit.
            self._throttle.failed(charge_point_id, address, False)
            return Admission.ADMITTED
        if admission is Admission.ADMITTED:
            self._throttle.admitted(charge_point_id, address)
        else:
            # A known charger refused (password, TLS, certificate) counts per (id, address);
            # an unknown id per address only.
            known = admission is not Admission.UNKNOWN
            self._throttle.failed(charge_point_id, address, known)
        return admission

    async def _check(
        self, charge_point_id: str, username: str | None, password: str | None, transport: Transport
    ) -> Admission:
        if username is not None and username != charge_point_id:
            return Admission.UNAUTHORIZED
        charge_point = await self._store.get(charge_point_id)
        if charge_point is None:
            if self.unknown_chargers is UnknownChargers.REJECT:
                return Admission.UNKNOWN
            if not CHARGE_POINT_ID.match(charge_point_id):
                return Admission.UNKNOWN
            await self._register_pending(charge_point_id)
            return Admission.REGISTERED_PENDING
        if charge_point.security_profile >= 2 and not transport.tls:
            return Admission.NEEDS_TLS
        if charge_point.security_profile == 3:
            if transport.client_cn != charge_point_id:
                return Admission.NEEDS_CERTIFICATE
            if self._organization and transport.client_organization != self._organization:
                return Admission.NEEDS_CERTIFICATE
            return Admission.ADMITTED
        if not charge_point.needs_password:
            return Admission.ADMITTED
        if password is None or charge_point.password_hash is None:
            return Admission.UNAUTHORIZED
        if await self._password_matches(charge_point, password):
            return Admission.ADMITTED
        offered = self._offered.get(charge_point_id)
        if offered is not None and await self._hasher.verify(password, offered):
            return Admission.ADMITTED
        return Admission.UNAUTHORIZED

    def close(self) -> None:
        self._hasher.close()

    async def boot(self, charge_point_id: str, boot: BootInfo) -> RegistrationStatus:
        charge_point = await self._store.get(charge_point_id)
        if charge_point is None:  # deleted while connected
            return RegistrationStatus.REJECTED
        now = self._clock.now()
        await self._store.record_boot(charge_point_id, boot, now, self.heartbeat_interval)
        if self._events is not None:
            self._events.publish(ChargerBooted(charge_point_id, now))
        return charge_point.registration_status

    async def registration_status(self, charge_point_id: str) -> RegistrationStatus | None:
        charge_point = await self._store.get(charge_point_id)
        return charge_point.registration_status if charge_point else None

    async def status_notification(self, charge_point_id: str, connector: Connector) -> None:
        now = self._clock.now()
        event = ConnectorStatusChanged(
            charge_point_id,
            connector.connector_id,
            connector.status,
            now,
            error_code=connector.error_code,
            info=connector.info,
            vendor_error_code=connector.vendor_error_code,
        )
        key, reported = (charge_point_id, connector.connector_id), (event.status, event.error_code)
        changed = self._reported.get(key) != reported  # unknown after a restart: told again
        self._reported[key] = reported
        feed = (event,) if changed else ()
        await self._store.record_status(charge_point_id, StatusRecord(connector, now), feed)
        if self._events is not None:
            self._events.publish(event)

    def connected(self, charge_point_id: str) -> None:
        now = self._clock.now()
        self._presence.connected(charge_point_id, now)
        if self._events is not None:
            self._events.publish(ChargerConnected(charge_point_id, now))

    def disconnected(self, charge_point_id: str) -> None:
        self._presence.disconnected(charge_point_id)
        if self._events is not None:
            self._events.publish(ChargerDisconnected(charge_point_id, self._clock.now()))

    def is_connected(self, charge_point_id: str) -> bool:
        return self._presence.is_connected(charge_point_id)

    def seen(self, charge_point_id: str) -> None:
        self._presence.seen(charge_point_id, self._clock.now())

    async def flush_last_seen(self) -> None:
        dirty = self._presence.take_dirty()
        if dirty:
            await self._store.record_last_seen(dirty)

    # --- helpers ---------------------------------------------------------------------
    async def _register_pending(self, charge_point_id: str) -> None:
        charge_point = ChargePoint(
            id=charge_point_id,
            security_profile=0,
            registration_status=RegistrationStatus.PENDING,
            description="Connected unannounced; accept it to let it charge.",
            created_at=self._clock.now(),
        )
        with contextlib.suppress(Conflict):  # two connections raced; the first one won
            await self._store.add(charge_point)

    def _view(self, charge_point: ChargePoint) -> ChargePointView:
        live = self._presence.last_seen(charge_point.id)
        if live and (charge_point.last_seen is None or live > charge_point.last_seen):
            charge_point = replace(charge_point, last_seen=live)
        return ChargePointView(charge_point, self._presence.is_connected(charge_point.id))

    async def _password_matches(self, charge_point: ChargePoint, password: str) -> bool:
        """A verified password is remembered (an HMAC, microseconds on the event loop), so
        honest reconnects never wait for scrypt (~10 ms, on the hasher's own thread)."""
        assert charge_point.password_hash is not None
        token = hmac.new(
            self._cache_key, f"{charge_point.password_hash}\0{password}".encode(), hashlib.sha256
        ).digest()
        cached = self._verified.get(charge_point.id)
        if cached is not None and hmac.compare_digest(cached, token):
            return True
        if await self._hasher.verify(password, charge_point.password_hash):
            self._verified[charge_point.id] = token
            return True
        return False

    def _check_served(self, profile: int) -> None:
        if profile > self.max_security_profile:
            raise Invalid(_PROFILE_NEEDS[profile])

    def _forget_verified(self, charge_point_id: str) -> None:
        self._verified.pop(charge_point_id, None)


def check_charge_point_id(charge_point_id: str) -> None:
    if not CHARGE_POINT_ID.match(charge_point_id):
        raise Invalid(
            "charge point id must be 1 to 48 characters of letters, digits, '.', '_' or '-'"
        )


def _security_profile(
    password: str | None, security_profile: int | None, update: bool = False
) -> int:
    if security_profile is None and password:
        security_profile = 1
    if security_profile is None:
        raise Invalid("give a password (security profile 1) or security_profile: 0")
    if security_profile not in (0, 1, 2, 3):
        raise Invalid(
            "security_profile must be 0 (none), 1 (HTTP Basic auth), 2 (Basic auth over TLS) "
            "or 3 (TLS client certificate)"
        )
    if security_profile == 0 and password:
        raise Invalid("security profile 0 takes no password")
    if security_profile == 3 and password:
        raise Invalid("security profile 3 takes no password: a client certificate identifies it")
    if security_profile in (1, 2) and not password and not update:
        raise Invalid(f"security profile {security_profile} needs a password")
    if password is not None and len(password) not in PASSWORD_LENGTH:
        raise Invalid("password must be 16 to 40 characters (OCPP AuthorizationKey)")
    return security_profile
