"""Which sessions a RemoteStartTransaction started: the remote starts sent to each charger
in the last few minutes, matched by the StartTransaction that follows them.

Kept in memory only: a restart forgets the starts it sent, so a StartTransaction that
answers one sent before the restart is recorded as started locally. Acceptable: it is a
label, and the window is minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ampnexus.domain.time import Clock

# A charger starts within moments of accepting (a car already plugged in) or when the car
# arrives, which OCPP bounds by its ConnectionTimeOut: typically 30-120 s.
REMOTE_START_WINDOW = timedelta(minutes=5)
# More remote starts pending on one charger than this are a script gone wrong: the oldest go.
MAX_PENDING_PER_CHARGER = 32


@dataclass(frozen=True, slots=True)
class PendingRemoteStart:
    id_tag: str  # folded: id tags compare case-insensitively
    connector_id: int | None  # None: the charger chooses
    sent_at: datetime


class RemoteStarts:
    """Remote starts sent and not yet matched. One is registered when it is sent, not when
    it is accepted: the charger's StartTransaction may reach us before our own coroutine
    reads the answer. One not accepted is withdrawn once its answer is known."""

    def __init__(self, clock: Clock, window: timedelta = REMOTE_START_WINDOW) -> None:
        self._clock = clock
        self._window = window
        self._pending: dict[str, list[PendingRemoteStart]] = {}

    def sent(
        self, charge_point_id: str, id_tag: str, connector_id: int | None
    ) -> PendingRemoteStart:
        pending = PendingRemoteStart(_fold(id_tag), connector_id, self._clock.now())
        kept = self._live(charge_point_id)
        kept.append(pending)
        self._pending[charge_point_id] = kept[-MAX_PENDING_PER_CHARGER:]
        return pending

    def withdraw(self, charge_point_id: str, pending: PendingRemoteStart) -> None:
        """Refused, or never answered: no session follows from it."""
        kept = [p for p in self._pending.get(charge_point_id, ()) if p is not pending]
        self._store(charge_point_id, kept)

    def claim(self, charge_point_id: str, connector_id: int, id_tag: str) -> bool:
        """Whether a start on `connector_id` with `id_tag` answers a remote start sent within
        the window (that one is then used up: the next start with the same tag is local)."""
        kept = self._live(charge_point_id)
        folded = _fold(id_tag)
        match = next(
            (p for p in kept if p.id_tag == folded and p.connector_id in (None, connector_id)),
            None,
        )
        if match is not None:
            kept.remove(match)
        self._store(charge_point_id, kept)
        return match is not None

    def pending(self, charge_point_id: str) -> int:
        return len(self._live(charge_point_id))

    def _live(self, charge_point_id: str) -> list[PendingRemoteStart]:
        oldest = self._clock.now() - self._window
        return [p for p in self._pending.get(charge_point_id, ()) if p.sent_at >= oldest]

    def _store(self, charge_point_id: str, kept: list[PendingRemoteStart]) -> None:
        if kept:
            self._pending[charge_point_id] = kept
        else:
            self._pending.pop(charge_point_id, None)


def _fold(id_tag: str) -> str:
    """As the id tag lookups fold: ASCII only (see services/authorization.py)."""
    return id_tag.lower() if id_tag.isascii() else id_tag
