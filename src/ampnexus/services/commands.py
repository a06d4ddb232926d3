"""Commands an operator sends to a charger, answered with its reply: the checks an operator's
request needs (an unknown charger is 404 before a disconnected one is 409), then the command
port, which speaks the charger's protocol."""

from __future__ import annotations

from dataclasses import replace

from ampnexus.domain.charging_profile import (
    ChargingProfile,
    ChargingRateUnit,
    ProfilePurpose,
    ProfileStatus,
    connector_problem,
)
from ampnexus.domain.commands import (
    Acceptance,
    Answer,
    Availability,
    AvailabilityStatus,
    ClearProfileStatus,
    CompositeAnswer,
    ConfigurationRead,
    ConfigurationStatus,
    DataTransferAnswer,
    ProfileFilter,
    ResetKind,
    TriggeredMessage,
    TriggerStatus,
    UnlockStatus,
)
from ampnexus.domain.data_transfer import CALL_ERROR, NO_ANSWER
from ampnexus.domain.errors import CommandFailed, CommandTimeout, Conflict, Invalid
from ampnexus.services.charge_points import ChargePointService
from ampnexus.services.data_transfer import DataTransferService
from ampnexus.services.operator_profiles import OperatorProfiles
from ampnexus.services.ports import ChargerCommands, TransactionStore
from ampnexus.services.remote_starts import RemoteStarts

# How many of a charger's active transactions are searched for the one a TxProfile is for:
# far more than any charger has connectors.
ACTIVE_TRANSACTIONS_SCANNED = 500


class CommandService:
    def __init__(
        self,
        port: ChargerCommands,
        charge_points: ChargePointService,
        data_transfer: DataTransferService,
        transactions: TransactionStore,
        remote_starts: RemoteStarts | None = None,
        operator_profiles: OperatorProfiles | None = None,
    ) -> None:
        """`operator_profiles`: where the profiles chargers accept are remembered."""
        self._port = port
        self._charge_points = charge_points
        self._data_transfer = data_transfer
        self._transactions = transactions
        self._remote_starts = remote_starts
        self._operator_profiles = operator_profiles

    async def _known(self, charge_point_id: str) -> None:
        await self._charge_points.get(charge_point_id)  # 404 before the port's 409

    async def remote_start(
        self,
        charge_point_id: str,
        id_tag: str,
        connector_id: int | None = None,
        profile: ChargingProfile | None = None,
        set_by: str | None = None,
    ) -> Answer[Acceptance]:
        """`set_by`: who asked (the API key's name), recorded with the profile."""
        if profile is not None:
            if profile.purpose is not ProfilePurpose.TX:
                raise Invalid("a remote start's charging profile must have purpose TxProfile")
            if profile.transaction_id is not None:
                raise Invalid("a remote start's charging profile must not have a transactionId")
        await self._known(charge_point_id)
        # Registered before it is sent: the StartTransaction may arrive before the answer is
        # read here. Withdrawn unless accepted.
        pending = None
        if self._remote_starts is not None:
            pending = self._remote_starts.sent(
                charge_point_id, id_tag, connector_id, profile, set_by
            )
        accepted = False
        try:
            answer = await self._port.remote_start(charge_point_id, id_tag, connector_id, profile)
            accepted = answer.status is Acceptance.ACCEPTED
        finally:
            if not accepted and pending is not None and self._remote_starts is not None:
                self._remote_starts.withdraw(charge_point_id, pending)
        return answer

    async def remote_stop(self, charge_point_id: str, transaction_id: int) -> Answer[Acceptance]:
        await self._known(charge_point_id)
        return await self._port.remote_stop(charge_point_id, transaction_id)

    async def reset(self, charge_point_id: str, kind: ResetKind) -> Answer[Acceptance]:
        await self._known(charge_point_id)
        return await self._port.reset(charge_point_id, kind)

    async def unlock(self, charge_point_id: str, connector_id: int) -> Answer[UnlockStatus]:
        await self._known(charge_point_id)
        return await self._port.unlock(charge_point_id, connector_id)

    async def change_availability(
        self, charge_point_id: str, connector_id: int, availability: Availability
    ) -> Answer[AvailabilityStatus]:
        await self._known(charge_point_id)
        return await self._port.change_availability(charge_point_id, connector_id, availability)

    async def get_configuration(
        self, charge_point_id: str, keys: list[str] | None
    ) -> ConfigurationRead:
        await self._known(charge_point_id)
        return await self._port.get_configuration(charge_point_id, keys or [])

    async def change_configuration(
        self, charge_point_id: str, key: str, value: str
    ) -> Answer[ConfigurationStatus]:
        await self._known(charge_point_id)
        return await self._port.change_configuration(charge_point_id, key, value)

    async def clear_cache(self, charge_point_id: str) -> Answer[Acceptance]:
        await self._known(charge_point_id)
        return await self._port.clear_cache(charge_point_id)

    async def data_transfer(
        self, charge_point_id: str, vendor_id: str, message_id: str | None, data: str | None
    ) -> DataTransferAnswer:
        """Recorded with the charger's answer; one sent that got none, with why not."""
        await self._known(charge_point_id)
        try:
            answer = await self._port.data_transfer(charge_point_id, vendor_id, message_id, data)
        except (CommandTimeout, CommandFailed) as error:
            status = NO_ANSWER if isinstance(error, CommandTimeout) else CALL_ERROR
            await self._data_transfer.sent(charge_point_id, vendor_id, message_id, data, status)
            raise
        await self._data_transfer.sent(
            charge_point_id, vendor_id, message_id, data, answer.status.value
        )
        return answer

    # --- Smart Charging ------------------------------------------------------------------------
    async def set_charging_profile(
        self,
        charge_point_id: str,
        connector_id: int,
        profile: ChargingProfile,
        set_by: str | None = None,
    ) -> Answer[ProfileStatus]:
        """A TxProfile is bound to the transaction running on the connector (§5.16: the
        Central System SHALL include its transactionId). An accepted profile is remembered
        as the operator's, with `set_by`."""
        problem = connector_problem(connector_id, profile)
        if problem:
            raise Invalid(problem)
        await self._known(charge_point_id)
        if profile.purpose is ProfilePurpose.TX:
            running = await self._running_transaction(charge_point_id, connector_id)
            if running is None:
                raise Conflict(f"no transaction is running on connector {connector_id}")
            if profile.transaction_id not in (None, running):
                raise Conflict(
                    f"transaction {profile.transaction_id} is not the one running on connector "
                    f"{connector_id} ({running})"
                )
            profile = replace(profile, transaction_id=running)
        answer = await self._port.set_charging_profile(charge_point_id, connector_id, profile)
        if answer.status is ProfileStatus.ACCEPTED and self._operator_profiles is not None:
            await self._operator_profiles.accepted(charge_point_id, connector_id, profile, set_by)
        return answer

    async def clear_charging_profile(
        self, charge_point_id: str, which: ProfileFilter
    ) -> Answer[ClearProfileStatus]:
        """The charger clears what matches every given field, or everything when none is
        given."""
        if which.connector_id is not None and which.connector_id < 0:
            raise Invalid("connector id must not be negative")
        if which.stack_level is not None and which.stack_level < 0:
            raise Invalid("stack level must not be negative")
        await self._known(charge_point_id)
        answer = await self._port.clear_charging_profile(charge_point_id, which)
        if self._operator_profiles is not None:  # Accepted or Unknown: it holds none of them
            await self._operator_profiles.cleared(charge_point_id, which)
        return answer

    async def get_composite_schedule(
        self,
        charge_point_id: str,
        connector_id: int,
        duration_s: int,
        unit: ChargingRateUnit | None = None,
    ) -> CompositeAnswer:
        """The limits for the next `duration_s` seconds from now."""
        if connector_id < 0:
            raise Invalid("connector id must not be negative")
        if duration_s <= 0:
            raise Invalid("duration must be a positive number of seconds")
        await self._known(charge_point_id)
        return await self._port.get_composite_schedule(
            charge_point_id, connector_id, duration_s, unit
        )

    # --- Remote Trigger ------------------------------------------------------------------------
    async def trigger_message(
        self, charge_point_id: str, message: TriggeredMessage, connector_id: int | None = None
    ) -> Answer[TriggerStatus]:
        if connector_id is not None and connector_id < 0:
            raise Invalid("connector id must not be negative")
        await self._known(charge_point_id)
        return await self._port.trigger_message(charge_point_id, message, connector_id)

    async def _running_transaction(self, charge_point_id: str, connector_id: int) -> int | None:
        """The newest transaction still running on the connector."""
        active = await self._transactions.list(
            charge_point_id, True, ACTIVE_TRANSACTIONS_SCANNED, 0
        )
        return next((t.id for t in active.items if t.connector_id == connector_id), None)
