"""Portal users: created with a role, signed in with a password, kept signed in by a session.

Passwords are 12 to 128 characters, hashed with scrypt on the hasher's own bounded thread
(secrets.PasswordHasher, at PORTAL_COST). A sign-in says only "wrong email or password":
an unknown email costs the same password check as a known one, and counts towards the same
throttle (LoginThrottle), so neither the answer, its timing nor the throttle tells whether
an account exists.

A session is a random token (the browser's cookie) stored as its SHA-256 digest, with a
CSRF token the pages echo. It ends:
- after `SessionPolicy.idle` without use (12 h by default). Its last use is recorded at most
  once per `touch_every` (1 min), so the idle time counts from a moment up to that much
  before the real last request;
- `SessionPolicy.absolute` after sign-in however active (7 days by default);
- at sign-out, when its user is deleted, disabled or given a new password.
A user's role is read afresh with each session lookup: a changed role applies at once.

The web layer maps BadCredentials to 401, TooManyAttempts to 429 with Retry-After, and
checks `check_csrf` on every request that changes something.
"""

from __future__ import annotations

import hmac
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

from ampnexus.domain.errors import (
    BadCredentials,
    Conflict,
    Invalid,
    NotFound,
    TooManyAttempts,
)
from ampnexus.domain.time import Clock
from ampnexus.domain.user import MAX_EMAIL, PortalSession, Role, User, normal_email
from ampnexus.services.admission import DEFAULT_CAPACITY, FailureTable, address_key
from ampnexus.services.ports import PortalSessionStore, UserStore
from ampnexus.services.secrets import (
    PORTAL_COST,
    PasswordChecksBusy,
    PasswordHasher,
    new_session_token,
    session_digest,
)

MIN_PASSWORD, MAX_PASSWORD = 12, 128
_MAX_TOKEN = 128  # longer than any token we issue: refused without a lookup


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    idle: timedelta = timedelta(hours=12)
    absolute: timedelta = timedelta(days=7)
    touch_every: timedelta = timedelta(minutes=1)


class LoginThrottle:
    """Failed sign-ins in a sliding window, as AdmissionThrottle counts chargers' failures:

    - per (email, network): `per_account` failures refuse that email from that network
      until the oldest leaves the window. The same email from elsewhere still gets in: a
      guesser must not be able to lock the real user out.
    - per network: `per_address` failures (any email, known or not) refuse everything
      from that network.

    IPv6 addresses count per /64. Guessers spread over many networks are bounded by the
    hasher's capacity instead (a saturated hasher refuses at once). Times come from the
    injected clock; memory is bounded by `capacity` keys per table.
    """

    def __init__(
        self,
        clock: Clock,
        per_account: int = 5,
        per_address: int = 20,
        window: float = 900.0,
        capacity: int = DEFAULT_CAPACITY,
    ) -> None:
        self._clock = clock
        self._pairs = FailureTable(per_account, window, capacity)
        self._addresses = FailureTable(per_address, window, capacity)

    def refusal(self, email: str, address: str | None) -> int | None:
        """Seconds to wait before trying again, if this attempt is refused unseen."""
        now, network = self._now(), address_key(address)
        for table, key in ((self._addresses, network), (self._pairs, (email, network))):
            blocked = table.blocked(key, now)
            if blocked is not None:
                return math.ceil(blocked[1])
        return None

    def failed(self, email: str, address: str | None) -> None:
        now, network = self._now(), address_key(address)
        self._addresses.add(network, now)
        self._pairs.add((email, network), now)

    def succeeded(self, email: str, address: str | None) -> None:
        """The right password from this place: its earlier failures were its own typos."""
        self._pairs.forget((email, address_key(address)))

    def _now(self) -> float:
        return self._clock.now().timestamp()


class UserService:
    def __init__(
        self,
        users: UserStore,
        sessions: PortalSessionStore,
        clock: Clock,
        *,
        hasher: PasswordHasher | None = None,
        throttle: LoginThrottle | None = None,
        policy: SessionPolicy | None = None,
    ) -> None:
        self._users = users
        self._sessions = sessions
        self._clock = clock
        self._hasher = hasher or PasswordHasher(cost=PORTAL_COST)
        self._throttle = throttle or LoginThrottle(clock)
        self.policy = policy or SessionPolicy()
        self._decoy: str | None = None  # a hash to check unknown emails' passwords against

    # --- users ---------------------------------------------------------------------------

    async def create(self, email: str, password: str, role: Role) -> User:
        """Invalid for a malformed email or a password not of 12..128 characters; Conflict
        if the email (in any case) has a user. The role has no default: callers choose."""
        email = normal_email(email)
        _check_password(password)
        if await self._users.find(email) is not None:
            raise Conflict(f"a user with the email {email} exists")
        password_hash = await self._hasher.hash(password)
        return await self._users.add(email, Role(role), password_hash, self._clock.now())

    async def get(self, user: int | str) -> User:
        """By id or by email (any case); NotFound if there is none."""
        if isinstance(user, int):
            found = await self._users.get(user)
        else:
            try:
                pair = await self._users.find(normal_email(user))
            except Invalid:
                pair = None
            found = pair[0] if pair else None
        if found is None:
            raise NotFound(f"no user {user}")
        return found

    async def list(self) -> Sequence[User]:
        """Every user, by email."""
        return await self._users.list()

    async def delete(self, user: int | str) -> User:
        """Deletes the user and their sessions; Conflict for the last active admin."""
        found = await self.get(user)
        await self._keep_an_admin(found)
        if not await self._users.delete(found.id):
            raise NotFound(f"no user {user}")
        return found

    async def change_role(self, user: int | str, role: Role) -> User:
        found = await self.get(user)
        if not Role(role).covers(Role.ADMIN):
            await self._keep_an_admin(found)
        return await self._update(found, role=Role(role))

    async def set_password(self, user: int | str, password: str) -> User:
        """A new password ends every session of the user."""
        _check_password(password)
        found = await self.get(user)
        updated = await self._update(found, password_hash=await self._hasher.hash(password))
        await self._sessions.delete_for_user(found.id)
        return updated

    async def set_disabled(self, user: int | str, disabled: bool) -> User:
        """A disabled user cannot sign in, and their sessions end."""
        found = await self.get(user)
        if not disabled:
            return await self._update(found, disabled_at=None)
        if not found.active:
            return found
        await self._keep_an_admin(found)
        updated = await self._update(found, disabled_at=self._clock.now())
        await self._sessions.delete_for_user(found.id)
        return updated

    # --- sessions --------------------------------------------------------------------------

    async def sign_in(
        self, email: str, password: str, address: str | None
    ) -> tuple[PortalSession, str]:
        """A new session and its token (for the cookie; never stored, never shown again).

        Raises BadCredentials("wrong email or password") whatever was wrong, and
        TooManyAttempts (retry_after seconds) when this email from this network, or this
        network, failed too often lately, or when password checks are saturated.
        """
        key = email.strip().lower()[: MAX_EMAIL + 1]  # bounded: it is kept in the throttle
        wait = self._throttle.refusal(key, address)
        if wait is not None:
            raise TooManyAttempts(f"too many failed sign-ins: try again in {wait} s", wait)
        if self._decoy is None:  # before the lookup, so that no first answer is slower
            self._decoy = await self._hasher.hash(secrets.token_urlsafe(16))
        try:
            found = await self._users.find(normal_email(email))
        except Invalid:
            found = None
        try:
            # Passwords too long to be anyone's fail without a check: that says nothing
            # about the email.
            right = len(password) <= MAX_PASSWORD and await self._hasher.verify(
                password, found[1] if found else self._decoy
            )
        except PasswordChecksBusy:
            raise TooManyAttempts("too many sign-ins at once: try again in 1 s", 1) from None
        if found is None or not right:
            self._throttle.failed(key, address)
            raise BadCredentials("wrong email or password")
        user = found[0]
        self._throttle.succeeded(key, address)
        if not user.active:  # said only to whoever knows the password
            raise BadCredentials("this account is disabled")
        now = self._clock.now()
        await self._sessions.delete_expired(now, now - self.policy.idle)
        token = new_session_token()
        session = await self._sessions.add(
            user.id,
            session_digest(token),
            secrets.token_urlsafe(32),
            now,
            now + self.policy.absolute,
        )
        await self._users.update(user.id, {"last_login_at": now})
        return session, token

    async def session(self, token: str) -> tuple[User, PortalSession] | None:
        """The signed-in user and their session, or None for a token that is unknown,
        expired (idle or absolute; then it is deleted) or whose user is disabled. Each use
        slides the idle expiry (see the module's docstring)."""
        if not token or len(token) > _MAX_TOKEN:
            return None
        digest = session_digest(token)
        found = await self._sessions.find(digest)
        if found is None:
            return None
        user, session = found
        now = self._clock.now()
        if now >= session.expires_at or now - session.last_seen_at >= self.policy.idle:
            await self._sessions.delete(digest)
            return None
        if not user.active:
            return None
        if now - session.last_seen_at >= self.policy.touch_every:
            await self._sessions.touch(session.id, now)
            session = replace(session, last_seen_at=now)
        return user, session

    async def sign_out(self, token: str) -> bool:
        """Ends the session; False if there was none (signing out twice is no error)."""
        if not token or len(token) > _MAX_TOKEN:
            return False
        return await self._sessions.delete(session_digest(token))

    async def sign_out_everywhere(self, user: int | str) -> int:
        """Ends every session of the user; how many there were."""
        return await self._sessions.delete_for_user((await self.get(user)).id)

    def check_csrf(self, session: PortalSession, token: str | None) -> bool:
        """Whether a request's CSRF token is its session's, compared in constant time."""
        if not token:
            return False
        return hmac.compare_digest(session.csrf_token.encode(), token.encode())

    async def purge_expired(self) -> int:
        """Deletes expired sessions (sign-in does too); how many."""
        now = self._clock.now()
        return await self._sessions.delete_expired(now, now - self.policy.idle)

    def close(self) -> None:
        self._hasher.close()

    # --- rules -------------------------------------------------------------------------------

    async def _keep_an_admin(self, user: User) -> None:
        """Conflict if `user` is the last active admin: the portal would have nobody to
        manage users (the CLI still could)."""
        if user.role is not Role.ADMIN or not user.active:
            return
        others = [
            u
            for u in await self._users.list()
            if u.role is Role.ADMIN and u.active and u.id != user.id
        ]
        if not others:
            raise Conflict(f"{user.email} is the only active admin: make another admin first")

    async def _update(self, user: User, **changes: object) -> User:
        updated = await self._users.update(user.id, dict(changes))
        if updated is None:
            raise NotFound(f"no user {user.email}")
        return updated


def _check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise Invalid(
            f"a password needs {MIN_PASSWORD} to {MAX_PASSWORD} characters "
            f"(this one has {len(password)})"
        )
