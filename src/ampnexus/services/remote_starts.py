"""Which sessions a RemoteStartTransaction started: the remote starts sent to each charger
in the last few minutes, matched by the StartTransaction that follows them. A match also
hands on the TxProfile the remote start carried, which bounds that session
(services/operator_profiles.py).

Kept in memory only: a restart forgets the starts it sent, so a StartTransaction that
answers one sent before the restart is recorded as started locally. Acceptable: it is a
label, and the window is minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ampnexus.domain.charging_profile import ChargingProfile
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
    profile: ChargingProfile | None = None  # the TxProfile it carried
    set_by: str | None = None  # who sent it (the API key's name)


class RemoteStarts:
    """Remote starts sent and not yet matched. One is registered when it is sent, not when
    it is accepted: the charger's StartTransaction may reach us before our own coroutine
    reads the answer. One not accepted is withdrawn once its answer is known."""

    def __init__(self, clock: Clock, window: timedelta = REMOTE_START_WINDOW) -> None:
        self._clock = clock
        self._window = window
        self._pending: dict[str, list[PendingRemoteStart]] = {}

    def sent(
        self,
        charge_point_id: str,
        id_tag: str,
        connector_id: int | None,
        profile: ChargingProfile | None = None,
        set_by: str | None = None,
    ) -> PendingRemoteStart:
        now = self._clock.now()
        pending = PendingRemoteStart(_fold(id_tag), connector_id, now, profile, set_by)
        kept = self._live(charge_point_id)
        kept.append(pending)
        self._pending[charge_point_id] = kept[-MAX_PENDING_PER_CHARGER:]
        return pending

    def withdraw(self, charge_point_id: str, pending: PendingRemoteStart) -> None:
        """Refused, or never answered: no session follows from it."""
        kept = [p for p in self._pending.get(charge_point_id, ()) if p is not pending]
        self._store(charge_point_id, kept)

    def claim(
        self, charge_point_id: str, connector_id: int, id_tag: str
    ) -> PendingRemoteStart | None:
        """The remote start sent within the window that a start on `connector_id` with
        `id_tag` answers, if any (it is then used up: the next start with the tag is local)."""
        kept = self._live(charge_point_id)
        folded = _fold(id_tag)
        match = next(
            (p for p in kept if p.id_tag == folded and p.connector_id in (None, connector_id)),
            None,
        )
        if match is not None:
            kept.remove(match)
        self._store(charge_point_id, kept)
        return match

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
