"""Throttling of failed charger admissions, so that guessing passwords or charger ids is slow
and cheap for us, while honest chargers keep getting in.

What is counted: failed admissions (a wrong or missing password, an unknown id), in a
sliding window, under two keys:

- (charger id, address): wrong passwords for one charger from one place. Past the limit,
  that pair is refused without a password check. The same id from another address is not:
  a guesser hammering CP-1 must not lock the real CP-1 out (it would turn guessing into a
  denial of service). Guessers spread over many addresses are bounded by the password
  checks' own budget instead (see secrets.PasswordHasher).
- address: every failure from one address, whatever the id (unknown ids included). Past
  the limit, everything from that address is refused.

IPv6 addresses count per /64 network: one subscriber usually holds a whole /64, so
rotating addresses inside it gains a guesser nothing.

Memory is bounded: at most `limit` failure times per key and at most `capacity` keys per
table; the least recently failing key is forgotten first. Refusals are logged once when a
burst starts, then at most once per window as a summary.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass

log = logging.getLogger(__name__)

# Keys tracked per table. An entry holds at most `limit` floats (~1 KiB), so two tables at
# this size stay within a few MiB however many ids or addresses a guesser rotates through.
DEFAULT_CAPACITY = 4096


@dataclass(frozen=True, slots=True)
class Refusal:
    """An upgrade refused without any password check; try again after `retry_after` s.
    `busy`: refused because password checks are saturated, not because of past failures."""

    retry_after: int
    busy: bool = False


class _Entry:
    __slots__ = ("failures", "logged_at", "refused")

    def __init__(self, limit: int) -> None:
        self.failures: deque[float] = deque(maxlen=limit)
        self.logged_at: float | None = None  # when a refusal of this key was last logged
        self.refused = 0  # refusals since then


class FailureTable:
    """Failure times per key in a sliding window, bounded in keys and in times per key."""

    def __init__(self, limit: int, window: float, capacity: int) -> None:
        self.limit, self.window, self.capacity = limit, window, capacity
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def blocked(self, key: Hashable, now: float) -> tuple[_Entry, float] | None:
        """The key's entry and the seconds left, if `limit` failures fell within the window."""
        entry = self._entries.get(key)
        if entry is None or len(entry.failures) < self.limit:
            return None
        left = entry.failures[0] + self.window - now
        return (entry, left) if left > 0 else None

    def add(self, key: Hashable, now: float) -> None:
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry(self.limit)
            if len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(key)
        entry.failures.append(now)

    def forget(self, key: Hashable) -> None:
        self._entries.pop(key, None)


class AdmissionThrottle:
    def __init__(
        self,
        per_charger: int = 10,
        per_address: int = 30,
        window: float = 60.0,
        capacity: int = DEFAULT_CAPACITY,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pairs = FailureTable(per_charger, window, capacity)
        self._addresses = FailureTable(per_address, window, capacity)
        self._busy = _Entry(1)
        self._window = window
        self._now = now

    def refusal(self, charge_point_id: str, address: str | None) -> Refusal | None:
        """Whether to refuse this attempt before looking at it; logs bursts of refusals."""
        now = self._now()
        network = address_key(address)
        for table, key, who in (
            (self._addresses, network, f"from {network}"),
            (self._pairs, (charge_point_id, network), f"for {charge_point_id} from {network}"),
        ):
            blocked = table.blocked(key, now)
            if blocked is not None:
                entry, left = blocked
                # Whole seconds up, as Retry-After says: a busy loop must not log "59 s".
                first = (
                    f"refusing upgrade attempts {who} for {math.ceil(left)} s: "
                    f"{table.limit} failed within {self._window:g} s"
                )
                self._log_refusal(entry, now, who, first)
                return Refusal(retry_after=math.ceil(left))
        return None

    def failed(self, charge_point_id: str, address: str | None, wrong_password: bool) -> None:
        now, network = self._now(), address_key(address)
        self._addresses.add(network, now)
        if wrong_password:
            self._pairs.add((charge_point_id, network), now)

    def admitted(self, charge_point_id: str, address: str | None) -> None:
        """The right password from this place: its earlier failures were its own typos."""
        self._pairs.forget((charge_point_id, address_key(address)))

    def busy(self) -> Refusal:
        """Password checks are saturated: refuse (and log that once per window)."""
        who = "while password checks were saturated"
        first = "refusing upgrade attempts: password checks are saturated"
        self._log_refusal(self._busy, self._now(), who, first)
        return Refusal(retry_after=1, busy=True)

    def tracked(self) -> int:
        """Keys held in memory (for tests of the bound)."""
        return len(self._pairs) + len(self._addresses)

    def _log_refusal(self, entry: _Entry, now: float, who: str, first: str) -> None:
        """The first refusal of a burst, then a summary at most once per window."""
        entry.refused += 1
        if entry.logged_at is not None and now - entry.logged_at < self._window:
            return
        if entry.refused == 1:
            log.warning("%s", first)
        else:
            elapsed = now - entry.logged_at if entry.logged_at is not None else 0.0
            log.warning(
                "refused %d upgrade attempts %s in the last %.0f s", entry.refused, who, elapsed
            )
        entry.logged_at, entry.refused = now, 0


def address_key(address: str | None) -> str:
    """The network a peer address is counted under: itself, or its /64 for IPv6."""
    if address is None:
        return "unknown address"
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:  # ::ffff:10.0.0.5 is 10.0.0.5
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)
