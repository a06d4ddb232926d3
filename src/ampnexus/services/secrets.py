"""Hashing of charger passwords and API keys."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

# scrypt parameters: ~10 ms and 8 MiB per check. Cheap enough for a reconnect
# storm of thousands of chargers (verifications are cached), costly to brute-force.
_N, _R, _P = 2**13, 8, 1


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P)
    encoded_salt, encoded_digest = (
        base64.b64encode(salt).decode(),
        base64.b64encode(digest).decode(),
    )
    return f"scrypt${_N}${_R}${_P}${encoded_salt}${encoded_digest}"


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
