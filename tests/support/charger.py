"""A test charge point built on the `ocpp` package's ChargePoint, over a real WebSocket.

It answers every Core command the CSMS sends with a status the test chooses, and
records what it received so tests can assert on the CSMS's exact requests.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from ssl import SSLContext
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from websockets.asyncio.client import ClientConnection, connect


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class TestCharger(ChargePoint):
    __test__ = False  # not a pytest class

    def __init__(self, charge_point_id: str, websocket: ClientConnection) -> None:
        super().__init__(charge_point_id, websocket, response_timeout=10)
        self.websocket = websocket
        self.received: list[tuple[str, dict[str, Any]]] = []
        self._arrived = asyncio.Condition()
        # Status each command is answered with; tests override per case.
        self.answers: dict[str, str] = {
            "RemoteStartTransaction": "Accepted",
            "RemoteStopTransaction": "Accepted",
            "Reset": "Accepted",
            "UnlockConnector": "Unlocked",
            "ChangeAvailability": "Accepted",
            "ChangeConfiguration": "Accepted",
            "ClearCache": "Accepted",
            "DataTransfer": "Accepted",
            "TriggerMessage": "Accepted",
            "SetChargingProfile": "Accepted",
            "ClearChargingProfile": "Accepted",
            "GetCompositeSchedule": "Accepted",
            "ReserveNow": "Accepted",
            "SendLocalList": "Accepted",  # Accepted: applied (VersionMismatch when it is)
        }
        # The reservations it holds (accepted ReserveNow payloads, by reservationId): a
        # CancelReservation of one of them is Accepted, of any other Rejected (§5.1).
        self.reservations: dict[int, dict[str, Any]] = {}
        # An accepted GetCompositeSchedule answers this schedule (camelCase) for the requested
        # duration, with `composite_start` as its scheduleStart (None: left out).
        self.composite: dict[str, Any] = {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6.0}],
        }
        self.composite_start: str | None = None
        self.configuration: dict[str, tuple[str, bool]] = {
            "HeartbeatInterval": ("300", False),
            "MeterValueSampleInterval": ("60", False),
            "NumberOfConnectors": ("2", True),
            "SupportedFeatureProfiles": ("Core,SmartCharging,RemoteTrigger", True),
        }
        self.silent = False  # when True, commands are received but never answered
        # Its Local Authorization List: idTag -> idTagInfo, and that list's version (what
        # GetLocalListVersion answers, unless `reported_version` says otherwise).
        self.local_list: dict[str, dict[str, Any]] = {}
        self.local_list_version = 0
        self.reported_version: int | None = None

    async def _record(self, action: str, payload: dict[str, Any]) -> None:
        async with self._arrived:
            self.received.append((action, payload))
            self._arrived.notify_all()
        if self.silent:
            await asyncio.sleep(3600)

    async def wait_for(self, action: str, timeout: float = 5.0) -> dict[str, Any]:  # noqa: ASYNC109
        """The payload of the first `action` the CSMS sent (waiting for it if needed)."""

        def found() -> dict[str, Any] | None:
            return next((p for a, p in self.received if a == action), None)

        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(lambda: found() is not None), timeout)
        payload = found()
        assert payload is not None
        return payload

    # --- Core, as sent by the CSMS ---------------------------------------------------------
    @on("RemoteStartTransaction")
    async def on_remote_start(self, **payload: Any) -> Any:
        await self._record("RemoteStartTransaction", payload)
        return call_result.RemoteStartTransaction(status=self.answers["RemoteStartTransaction"])

    @on("RemoteStopTransaction")
    async def on_remote_stop(self, **payload: Any) -> Any:
        await self._record("RemoteStopTransaction", payload)
        return call_result.RemoteStopTransaction(status=self.answers["RemoteStopTransaction"])

    @on("Reset")
    async def on_reset(self, **payload: Any) -> Any:
        await self._record("Reset", payload)
        return call_result.Reset(status=self.answers["Reset"])

    @on("UnlockConnector")
    async def on_unlock(self, **payload: Any) -> Any:
        await self._record("UnlockConnector", payload)
        return call_result.UnlockConnector(status=self.answers["UnlockConnector"])

    @on("ChangeAvailability")
    async def on_change_availability(self, **payload: Any) -> Any:
        await self._record("ChangeAvailability", payload)
        return call_result.ChangeAvailability(status=self.answers["ChangeAvailability"])

    @on("GetConfiguration")
    async def on_get_configuration(self, **payload: Any) -> Any:
        await self._record("GetConfiguration", payload)
        keys = payload.get("key") or list(self.configuration)
        known = [k for k in keys if k in self.configuration]
        return call_result.GetConfiguration(
            configuration_key=[
                {"key": k, "readonly": self.configuration[k][1], "value": self.configuration[k][0]}
                for k in known
            ],
            unknown_key=[k for k in keys if k not in self.configuration] or None,
        )

    @on("ChangeConfiguration")
    async def on_change_configuration(self, **payload: Any) -> Any:
        await self._record("ChangeConfiguration", payload)
        return call_result.ChangeConfiguration(status=self.answers["ChangeConfiguration"])

    @on("ClearCache")
    async def on_clear_cache(self, **payload: Any) -> Any:
        await self._record("ClearCache", payload)
        return call_result.ClearCache(status=self.answers["ClearCache"])

    @on("DataTransfer")
    async def on_data_transfer(self, **payload: Any) -> Any:
        await self._record("DataTransfer", payload)
        return call_result.DataTransfer(status=self.answers["DataTransfer"], data="pong")

    @on("TriggerMessage")
    async def on_trigger_message(self, **payload: Any) -> Any:
        await self._record("TriggerMessage", payload)
        return call_result.TriggerMessage(status=self.answers["TriggerMessage"])

    # --- Smart Charging, as sent by the CSMS -------------------------------------------------
    @on("SetChargingProfile")
    async def on_set_charging_profile(self, **payload: Any) -> Any:
        await self._record("SetChargingProfile", payload)
        return call_result.SetChargingProfile(status=self.answers["SetChargingProfile"])

    @on("ClearChargingProfile")
    async def on_clear_charging_profile(self, **payload: Any) -> Any:
        await self._record("ClearChargingProfile", payload)
        return call_result.ClearChargingProfile(status=self.answers["ClearChargingProfile"])

    @on("GetCompositeSchedule")
    async def on_get_composite_schedule(self, **payload: Any) -> Any:
        await self._record("GetCompositeSchedule", payload)
        status = self.answers["GetCompositeSchedule"]
        if status != "Accepted":
            return call_result.GetCompositeSchedule(status=status)
        return call_result.GetCompositeSchedule(
            status=status,
            connector_id=payload["connector_id"],
            schedule_start=self.composite_start,
            charging_schedule={"duration": payload["duration"], **self.composite},
        )

    # --- Reservation, as sent by the CSMS -----------------------------------------------------
    @on("ReserveNow")
    async def on_reserve_now(self, **payload: Any) -> Any:
        await self._record("ReserveNow", payload)
        status = self.answers["ReserveNow"]
        if status == "Accepted":
            self.reservations[payload["reservation_id"]] = payload
        return call_result.ReserveNow(status=status)

    @on("CancelReservation")
    async def on_cancel_reservation(self, **payload: Any) -> Any:
        await self._record("CancelReservation", payload)
        held = self.reservations.pop(payload["reservation_id"], None)
        return call_result.CancelReservation(status="Accepted" if held else "Rejected")

    # --- Local Auth List Management, as sent by the CSMS ----------------------------------------
    @on("SendLocalList")
    async def on_send_local_list(self, **payload: Any) -> Any:
        await self._record("SendLocalList", payload)
        status = self.answers["SendLocalList"]
        differential = payload["update_type"] == "Differential"
        behind = payload["list_version"] <= self.local_list_version
        if status == "Accepted" and differential and behind:
            status = "VersionMismatch"  # as a real charger answers (OCPP 1.6 §7.47)
        if status == "Accepted":
            if not differential:
                self.local_list = {}
            for entry in payload.get("local_authorization_list") or ():
                if "id_tag_info" in entry:
                    self.local_list[entry["id_tag"]] = entry["id_tag_info"]
                else:
                    self.local_list.pop(entry["id_tag"], None)
            self.local_list_version = payload["list_version"]
        return call_result.SendLocalList(status=status)

    @on("GetLocalListVersion")
    async def on_get_local_list_version(self, **payload: Any) -> Any:
        await self._record("GetLocalListVersion", payload)
        reported = self.reported_version
        return call_result.GetLocalListVersion(
            list_version=self.local_list_version if reported is None else reported
        )

    def sent(self, action: str) -> list[dict[str, Any]]:
        """Every `action` the CSMS sent, in order."""
        return [payload for received, payload in self.received if received == action]

    # --- what a charger sends, as one-liners for the tests ------------------------------------
    async def boot(self, vendor: str = "AmpNexusTest", model: str = "TC-1") -> Any:
        return await self.call(
            call.BootNotification(
                charge_point_vendor=vendor,
                charge_point_model=model,
                charge_point_serial_number="SN-001",
                firmware_version="1.2.3",
            )
        )

    async def status(self, connector_id: int, status: str, error_code: str = "NoError") -> Any:
        return await self.call(
            call.StatusNotification(
                connector_id=connector_id,
                error_code=error_code,
                status=status,
                timestamp=now_iso(),
            )
        )

    async def authorize(self, id_tag: str) -> Any:
        return await self.call(call.Authorize(id_tag=id_tag))

    async def start_transaction(
        self,
        connector_id: int,
        id_tag: str,
        meter_start: int = 1000,
        timestamp: str | None = None,
        reservation_id: int | None = None,
    ) -> Any:
        return await self.call(
            call.StartTransaction(
                connector_id=connector_id,
                id_tag=id_tag,
                meter_start=meter_start,
                timestamp=timestamp or now_iso(),
                reservation_id=reservation_id,
            )
        )

    async def stop_transaction(
        self,
        transaction_id: int,
        meter_stop: int,
        reason: str | None = None,
        id_tag: str | None = None,
        transaction_data: list[dict[str, Any]] | None = None,
        timestamp: str | None = None,
    ) -> Any:
        return await self.call(
            call.StopTransaction(
                meter_stop=meter_stop,
                timestamp=timestamp or now_iso(),
                transaction_id=transaction_id,
                reason=reason,
                id_tag=id_tag,
                transaction_data=transaction_data,
            )
        )

    async def meter_values(
        self,
        connector_id: int,
        transaction_id: int | None,
        energy_wh: float,
        power_w: float,
        timestamp: str | None = None,
    ) -> Any:
        return await self.call(
            call.MeterValues(
                connector_id=connector_id,
                transaction_id=transaction_id,
                meter_value=[
                    {
                        "timestamp": timestamp or now_iso(),
                        "sampledValue": [
                            {
                                "value": str(energy_wh),
                                "measurand": "Energy.Active.Import.Register",
                                "unit": "Wh",
                                "context": "Sample.Periodic",
                                "location": "Outlet",
                            },
                            {
                                "value": str(power_w),
                                "measurand": "Power.Active.Import",
                                "unit": "W",
                                "phase": "L1",
                            },
                        ],
                    }
                ],
            )
        )

    async def heartbeat(self) -> Any:
        return await self.call(call.Heartbeat())


def basic_auth(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@contextlib.asynccontextmanager
async def charger(
    ocpp_url: str,
    charge_point_id: str,
    password: str | None = None,
    subprotocols: list[str] | None = None,
    ssl: SSLContext | None = None,
    charger_class: type[TestCharger] = TestCharger,
) -> AsyncIterator[TestCharger]:
    """A connected test charger whose receive loop runs for the block's duration; a wss://
    URL with `ssl`, the context that trusts the server (and holds any client certificate)."""
    headers = basic_auth(charge_point_id, password) if password else None
    async with connect(
        f"{ocpp_url}/{charge_point_id}",
        subprotocols=subprotocols if subprotocols is not None else ["ocpp1.6"],  # type: ignore[list-item]
        additional_headers=headers,
        ssl=ssl,
    ) as websocket:
        cp = charger_class(charge_point_id, websocket)
        task = asyncio.create_task(cp.start())
        try:
            yield cp
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
