"""Commands an operator sends to a charger (OCPP 1.6 Core), answered with its reply."""

from __future__ import annotations

from typing import Any

from ampnexus.domain.errors import Invalid
from ampnexus.services.charge_points import ChargePointService
from ampnexus.services.data_transfer import DataTransferService
from ampnexus.services.ports import CommandPort

RESET_TYPES = ("Hard", "Soft")
AVAILABILITY_TYPES = ("Inoperative", "Operative")


class CommandService:
    def __init__(
        self,
        port: CommandPort,
        charge_points: ChargePointService,
        data_transfer: DataTransferService,
    ) -> None:
        self._port = port
        self._charge_points = charge_points
        self._data_transfer = data_transfer

    async def send(self, charge_point_id: str, action: str, payload: dict[str, Any]) -> Any:
        await self._charge_points.get(charge_point_id)  # 404 before 409
        return await self._port.call(charge_point_id, action, payload)

    async def remote_start(
        self,
        charge_point_id: str,
        id_tag: str,
        connector_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
    ) -> Any:
        payload: dict[str, Any] = {"idTag": id_tag}
        if connector_id is not None:
            payload["connectorId"] = connector_id
        if charging_profile is not None:
            if charging_profile.get("chargingProfilePurpose") != "TxProfile":
                raise Invalid("a remote start's charging profile must have purpose TxProfile")
            payload["chargingProfile"] = charging_profile
        return await self.send(charge_point_id, "RemoteStartTransaction", payload)

    async def remote_stop(self, charge_point_id: str, transaction_id: int) -> Any:
        return await self.send(
            charge_point_id, "RemoteStopTransaction", {"transactionId": transaction_id}
        )

    async def reset(self, charge_point_id: str, reset_type: str) -> Any:
        if reset_type not in RESET_TYPES:
            raise Invalid("reset type must be Hard or Soft")
        return await self.send(charge_point_id, "Reset", {"type": reset_type})

    async def unlock(self, charge_point_id: str, connector_id: int) -> Any:
        return await self.send(charge_point_id, "UnlockConnector", {"connectorId": connector_id})

    async def change_availability(
        self, charge_point_id: str, connector_id: int, availability: str
    ) -> Any:
        if availability not in AVAILABILITY_TYPES:
            raise Invalid("availability type must be Inoperative or Operative")
        return await self.send(
            charge_point_id,
            "ChangeAvailability",
            {"connectorId": connector_id, "type": availability},
        )

    async def get_configuration(self, charge_point_id: str, keys: list[str] | None) -> Any:
        return await self.send(charge_point_id, "GetConfiguration", {"key": keys} if keys else {})

    async def change_configuration(self, charge_point_id: str, key: str, value: str) -> Any:
        return await self.send(charge_point_id, "ChangeConfiguration", {"key": key, "value": value})

    async def clear_cache(self, charge_point_id: str) -> Any:
        return await self.send(charge_point_id, "ClearCache", {})

    async def data_transfer(
        self, charge_point_id: str, vendor_id: str, message_id: str | None, data: str | None
    ) -> Any:
        payload: dict[str, Any] = {"vendorId": vendor_id}
        if message_id is not None:
            payload["messageId"] = message_id
        if data is not None:
            payload["data"] = data
        reply = await self.send(charge_point_id, "DataTransfer", payload)
        await self._data_transfer.sent(
            charge_point_id, vendor_id, message_id, data, reply.get("status")
        )
        return reply
