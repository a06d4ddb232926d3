"""The Authorization Cache (OCPP 1.6 section 3.5.1): the last idTagInfo the CSMS gave for
each id tag, so a known driver can still charge while the charge point is offline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ampnexus.domain.time import parse_timestamp


class AuthorizationCache:
    def __init__(self) -> None:
        self._entries: dict[str, dict[str, Any]] = {}

    def remember(self, id_tag: str, id_tag_info: dict[str, Any]) -> None:
        self._entries[id_tag] = id_tag_info

    def status(self, id_tag: str, now: datetime) -> str | None:
        """The cached AuthorizationStatus, Expired once an Accepted entry's expiry passed."""
        info = self._entries.get(id_tag)
        if info is None:
            return None
        expiry = info.get("expiryDate")
        if info["status"] == "Accepted" and expiry and parse_timestamp(expiry) <= now:
            return "Expired"
        return str(info["status"])

    def clear(self) -> None:
        self._entries.clear()
