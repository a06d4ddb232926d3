"""What one charger may send: a frame rate, a message size, sampled values per message.

The rate is a token bucket per connection. A charger above it is not answered with errors:
the gateway simply waits before reading its next frame, so its frames pile up in its own
socket buffers and TCP slows it down, at no cost to the other chargers. Only a charger
throttled without a pause for `throttled_disconnect_seconds` (a flood, not a burst) is
disconnected. An honest OCPP-J charger has one CALL outstanding at a time and sends a few
frames a minute, far below the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ampnexus.ocpp.errors import OCCURENCE_CONSTRAINT_VIOLATION, CallError


@dataclass(frozen=True, slots=True)
class OcppLimits:
    message_rate: float = 20.0  # frames per second, on average
    message_burst: int = 200  # frames at once before the rate applies
    throttled_disconnect_seconds: float = 60.0
    max_message_bytes: int = 256 * 1024
    # Frames websockets buffers per connection before it stops reading the socket. An
    # honest charger has at most two in flight (its CALL, its answer to ours), so this
    # bounds a flooder's buffered memory to max_queue x max_message_bytes.
    max_queue: int = 4
    max_sampled_values: int = 500


class FrameRateLimit:
    """A token bucket that may go into debt: a frame that finds no token is handled once
    the debt is paid off, i.e. after `delay()` seconds."""

    __slots__ = ("_burst", "_rate", "_throttled_since", "_tokens", "_updated")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self._rate, self._burst = rate, float(burst)
        self._tokens, self._updated = float(burst), now
        self._throttled_since: float | None = None

    def delay(self, now: float) -> float:
        """Take a token for a frame read at `now`: seconds to wait before handling it."""
        tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate) - 1
        self._tokens, self._updated = tokens, now
        if tokens >= 0:
            self._throttled_since = None  # the charger paused long enough to earn a token
            return 0.0
        if self._throttled_since is None:
            self._throttled_since = now
        return -tokens / self._rate

    def throttled_for(self, now: float) -> float:
        """Seconds this charger has been throttled without a pause (0: not throttled)."""
        return 0.0 if self._throttled_since is None else now - self._throttled_since


# Where each action carries sampled values: MeterValues.meterValue, StopTransaction's
# transactionData, each a list of {timestamp, sampledValue: [...]}.
_READINGS = {"MeterValues": "meterValue", "StopTransaction": "transactionData"}


def check_sampled_values(action: str, payload: Any, limit: int) -> None:
    """Refuse a message with more sampled values than `limit` (over all its readings), so
    that one frame cannot make the store write thousands of rows. Runs after the schema."""
    field = _READINGS.get(action)
    if field is None:
        return
    count = sum(len(reading["sampledValue"]) for reading in payload.get(field, ()))
    if count > limit:
        raise CallError(
            OCCURENCE_CONSTRAINT_VIOLATION,
            f"{field} carries {count} sampled values; this CSMS takes at most {limit} per {action}",
        )
