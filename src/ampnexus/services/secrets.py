"""Hashing of charger and portal passwords, API keys and session tokens, and the bounded
thread that runs scrypt."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import os
import secrets
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

# scrypt parameters: ~10 ms and 8 MiB per check. Cheap enough for a reconnect
# storm of thousands of chargers (verifications are cached), costly to brute-force.
_N, _R, _P = 2**13, 8, 1


# People choose weaker passwords than the chargers' 16..40 random characters: a portal
# password costs ten times as much, as OWASP advises for scrypt (N=2^13, r=8, p=10: the
# same 8 MiB, ~100 ms). Parallelism only multiplies the time, so every check's memory bound
# stays hashlib's default.
PORTAL_COST = 10


def hash_password(password: str, cost: int = _P) -> str:
    """`cost`: scrypt's parallelism p, stored in the hash (verify_password reads it back)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=cost)
    encoded_salt, encoded_digest = (
        base64.b64encode(salt).decode(),
        base64.b64encode(digest).decode(),
    )
    return f"scrypt${_N}${_R}${cost}${encoded_salt}${encoded_digest}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    try:  # a malformed stored hash matches nothing (binascii.Error is a ValueError)
        candidate = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p)
        )
        expected = base64.b64decode(digest)
    except ValueError:
        return False
    return hmac.compare_digest(candidate, expected)


def new_api_key() -> str:
    return "anx_" + secrets.token_urlsafe(32)


def api_key_digest(key: str) -> str:
    """API keys carry 256 random bits, so a plain SHA-256 is a safe, fast lookup key."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


def session_digest(token: str) -> str:
    """Session tokens carry 256 random bits too: stored and looked up as a plain SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


class PasswordChecksBusy(Exception):
    """Every password-check slot is taken: the attempt is refused without hashing."""


class PasswordHasher:
    """scrypt on threads of its own, behind a bounded queue.

    On the default executor, fifty parallel guessers would queue scrypt jobs in front of
    every database read (they share it). Here a guess that finds `threads + queue` checks
    already in flight is refused at once; hashing a password an operator sets waits its
    turn instead (it is rare, and authenticated).
    """

    def __init__(self, threads: int = 1, queue: int = 8, cost: int = _P) -> None:
        """`cost`: what `hash` spends (scrypt's p); `verify` spends what the hash says."""
        self._executor = ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="scrypt", initializer=_lowest_priority
        )
        self._capacity = threads + queue
        self._in_flight = 0
        self._cost = cost

    async def verify(self, password: str, stored: str) -> bool:
        if self._in_flight >= self._capacity:
            raise PasswordChecksBusy(f"{self._in_flight} password checks in flight")
        return await self._run(verify_password, password, stored)

    async def hash(self, password: str) -> str:
        return await self._run(hash_password, password, self._cost)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _run(self, work: Callable[..., T], *args: str | int) -> T:
        loop = asyncio.get_running_loop()
        job = self._executor.submit(work, *args)
        self._in_flight += 1

        # A slot is free again when the job ends, or is cancelled while still queued: a
        # guesser that hangs up mid-check must not free a slot its job still occupies.
        def release(_: object) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._release)

        job.add_done_callback(release)
        return await asyncio.wrap_future(job)

    def _release(self) -> None:
        self._in_flight -= 1


def _lowest_priority() -> None:
    """In each scrypt thread: on Linux a thread has a nice value of its own, and at 19 the
    scheduler gives it a core only when the event loop (and the database) do not want it."""
    if sys.platform == "linux":  # elsewhere the id below could name another process
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
