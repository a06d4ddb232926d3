"""Charging profiles an operator gave a charger (through the API, or with a remote start)
and the charger accepted: upper bounds that smart charging keeps, never replaces (issue 17).

They are kept by the charger's own rules (OCPP 1.6 §5.16.3, §3.13): a new profile replaces
one with the same id, or one of the same purpose and stack level on the same connector; a
ClearChargingProfile clears by id alone, or every profile matching all the given fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ampnexus.domain.charging_profile import ChargingProfile, ProfilePurpose
from ampnexus.domain.commands import ProfileFilter
from ampnexus.domain.time import utc


@dataclass(frozen=True, slots=True)
class OperatorProfile:
    charge_point_id: str
    connector_id: int  # 0: the whole charger (ChargePointMaxProfile, or a TxDefault for all)
    profile: ChargingProfile  # a TxProfile carries the transaction it is bound to
    set_at: datetime
    set_by: str | None = None  # the API key's name; None when not known

    def __post_init__(self) -> None:
        object.__setattr__(self, "set_at", utc(self.set_at))

    @property
    def purpose(self) -> ProfilePurpose:
        return self.profile.purpose

    @property
    def stack_level(self) -> int:
        return self.profile.stack_level

    @property
    def transaction_id(self) -> int | None:
        return self.profile.transaction_id

    def replaced_by(self, new: OperatorProfile) -> bool:
        """Whether the charger drops this one when it accepts `new` (§5.16.3)."""
        if new.charge_point_id != self.charge_point_id:
            return False
        same_slot = (
            new.connector_id == self.connector_id
            and new.purpose is self.purpose
            and new.stack_level == self.stack_level
        )
        return new.profile.id == self.profile.id or same_slot

    def cleared_by(self, which: ProfileFilter) -> bool:
        """Whether a ClearChargingProfile the charger accepted cleared this one."""
        if which.profile_id is not None:
            return self.profile.id == which.profile_id
        return (
            which.connector_id in (None, self.connector_id)
            and which.purpose in (None, self.purpose)
            and which.stack_level in (None, self.stack_level)
        )


def listing_order(record: OperatorProfile) -> tuple[int, str, int, int]:
    """How stores list a charger's profiles: by connector, purpose, stack level, id."""
    return (record.connector_id, record.purpose.value, record.stack_level, record.profile.id)
