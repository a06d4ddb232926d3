"""What operators' TxDefault and ChargePointMax profiles leave the profiles smart charging
holds on connector 0 (issue 17): the fail-safe TxDefaultProfile and a mode's
ChargePointMaxProfile never allow more than the operator's, and go above the operator's
stack levels of their purpose, so that the charger follows ours, which keeps to theirs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from ampnexus.charging.compiler import (
    FAIL_SAFE_STACK_LEVEL,
    MODE_STACK_LEVEL,
    ChargerCapabilities,
    Steps,
    stack_level_above,
)
from ampnexus.domain.charging_profile import ProfilePurpose
from ampnexus.domain.operator_profile import OperatorProfile
from ampnexus.domain.time import Clock
from ampnexus.services.operator_profiles import operator_bound
from ampnexus.services.planning_ports import OperatorBounds
from ampnexus.services.smart_charging.model import log

# A fail-safe is one constant: the lowest the operator allows over this long from now.
FAIL_SAFE_LOOKAHEAD = timedelta(days=1)


class OperatorCeilings:
    def __init__(self, operator: OperatorBounds | None, clock: Clock) -> None:
        self._operator = operator
        self._clock = clock

    async def _held(self, charge_point_id: str) -> Sequence[OperatorProfile]:
        if self._operator is None:
            return ()
        await self._operator.load([charge_point_id])  # read once per change, then cached
        return self._operator.held(charge_point_id)

    async def fail_safe(
        self, charge_point_id: str, capabilities: ChargerCapabilities
    ) -> tuple[float, int]:
        """The most a fail-safe may let each connector draw (the lowest the operator's
        TxDefault and ChargePointMax profiles allow any connector over the next day; inf:
        no bound), and the stack level it goes at."""
        held = await self._held(charge_point_id)
        if not held:
            return math.inf, FAIL_SAFE_STACK_LEVEL
        now = self._clock.now()
        lowest = math.inf
        for connector in range(1, capabilities.connectors + 1):
            steps = operator_bound(
                held, connector, None, None, capabilities, now, now + FAIL_SAFE_LOOKAHEAD
            )
            lowest = min([lowest, *(watts for _, watts in steps or ())])
        theirs = [p.stack_level for p in held if p.purpose is ProfilePurpose.TX_DEFAULT]
        return lowest, self._level(charge_point_id, theirs, capabilities, FAIL_SAFE_STACK_LEVEL)

    async def charge_point_max(
        self,
        charge_point_id: str,
        capabilities: ChargerCapabilities,
        since: datetime,
        until: datetime,
    ) -> tuple[Steps | None, int]:
        """The operator's ChargePointMax limit over [since, until) (None: none), and the
        stack level a mode's ChargePointMaxProfile goes at."""
        held = await self._held(charge_point_id)
        if not held:
            return None, MODE_STACK_LEVEL
        steps = operator_bound(held, 0, None, None, capabilities, since, until)
        theirs = [p.stack_level for p in held if p.purpose is ProfilePurpose.CHARGE_POINT_MAX]
        return steps, self._level(charge_point_id, theirs, capabilities, MODE_STACK_LEVEL)

    @staticmethod
    def _level(
        charge_point_id: str, theirs: list[int], capabilities: ChargerCapabilities, ours: int
    ) -> int:
        level = stack_level_above(theirs, capabilities, ours)
        if level is None:  # ours is the lower of both: theirs is kept all the same
            log.warning(
                "%s: no stack level free above the operator's profile; ours goes at %d",
                charge_point_id,
                capabilities.max_stack_level,
            )
            return capabilities.max_stack_level
        return level
