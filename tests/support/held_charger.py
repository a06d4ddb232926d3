"""Test chargers that do what they hold: every SetChargingProfile and ClearChargingProfile they
accept goes into a `Holder` (tests/support/held_limits.py, OCPP 1.6 §3.13), and the car
plugged into each connector draws min(its own maximum, the limit held at that instant), which
the charger reports in MeterValues (Power.Active.Import and the energy register).

A `Station` is the physical charger: its profiles, cars and registers outlive any connection
to AmpNexus. Profiles persist across reboots (errata 3.37: "SHALL be persistent across
reboots/power cycles"); a reboot ends the running transactions (and with them their
TxProfiles) and the cars still plugged in start new ones under what is left. A
RemoteStopTransaction it accepts ends the transaction as a local stop would (OCPP 1.6 §5.11):
the car, still plugged in, draws nothing from that instant, its TxProfiles end with the
transaction (§3.13.1), and StopTransaction.req (reason Remote) follows the answer. Time is a
shared fake clock: the server and every charger read the same one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from ocpp.routing import after, on
from ocpp.v16 import call, call_result
from websockets.asyncio.client import connect

from tests.support.charger import TestCharger, basic_auth
from tests.support.held_limits import Holder


class FakeClock:
    """The one time of the server and of every charger; moved only by the test."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


def iso(at: datetime) -> str:
    return at.isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class Car:
    max_w: float
    transaction_id: int | None = None


@dataclass
class Station:
    """One physical charger. `units`: what ChargingScheduleAllowedChargingRateUnit says;
    `refusing`: every profile is answered Rejected and nothing is held; `silent`: commands
    arrive and are never answered."""

    id: str
    holder: Holder
    clock: FakeClock
    units: tuple[str, ...] = ("Current",)
    max_periods: int = 24
    refusing: bool = False
    silent: bool = False
    password: str | None = None  # security profile 1: HTTP Basic authentication
    cars: dict[int, Car] = field(default_factory=dict)
    register_wh: dict[int, float] = field(default_factory=dict)
    integrated_to: datetime | None = None
    link: HeldCharger | None = None
    on_change: Callable[[Station], None] | None = None  # after every accepted change
    stopped_remotely: list[tuple[int, int]] = field(default_factory=list)  # not yet reported
    sending: set[asyncio.Task[None]] = field(default_factory=set)  # its own messages under way
    # A remote start's TxProfile, held once its transaction starts on that connector (§5.11).
    remote_profiles: dict[int, dict[str, Any]] = field(default_factory=dict)
    refused: list[dict[str, Any]] = field(default_factory=list)  # profiles it did not take

    # --- what it holds and draws ----------------------------------------------------------
    def draw_w(self, connector_id: int, at: datetime) -> float:
        car = self.cars.get(connector_id)
        if car is None or car.transaction_id is None:
            return 0.0
        return max(0.0, min(car.max_w, self.holder.connector_limit_w(connector_id, at)))

    def held_w(self, at: datetime) -> float:
        """What the connectors with a car may draw together at `at` under what is held."""
        busy = [c for c, car in self.cars.items() if car.transaction_id is not None]
        return self.holder.charger_limit_w(busy, at) if busy else 0.0

    def integrate(self, to: datetime) -> None:
        """Energy drawn since the last call, exact between the instants limits change."""
        start = self.integrated_to or to
        edges = sorted({start, to, *self.holder.change_instants(start, to)})
        for begin, end in pairwise(edges):
            for connector in self.cars:
                hours = (end - begin) / timedelta(hours=1)
                self.register_wh[connector] = (
                    self.register_wh.get(connector, 0.0) + self.draw_w(connector, begin) * hours
                )
        self.integrated_to = to

    def configuration(self) -> dict[str, tuple[str, bool]]:
        return {
            "HeartbeatInterval": ("300", False),
            "MeterValueSampleInterval": ("300", False),
            "NumberOfConnectors": (str(self.holder.connectors), True),
            "SupportedFeatureProfiles": ("Core,SmartCharging,RemoteTrigger", True),
            "ChargingScheduleAllowedChargingRateUnit": (",".join(self.units), True),
            "ChargingScheduleMaxPeriods": (str(self.max_periods), True),
            "ChargeProfileMaxStackLevel": (str(self.holder.max_stack_level), True),
            "MaxChargingProfilesInstalled": ("16", True),
        }

    def set_profile(self, connector_id: int, payload: dict[str, Any]) -> str:
        schedule = payload["charging_schedule"]
        unit = {"A": "Current", "W": "Power"}.get(schedule["charging_rate_unit"])
        too_long = len(schedule["charging_schedule_period"]) > self.max_periods
        if self.refusing or unit not in self.units or too_long:
            self.refused.append(payload)
            return "Rejected"
        status = self.holder.set_profile(connector_id, payload, self.clock.now())
        if status != "Accepted":
            self.refused.append(payload)
        elif self.on_change is not None:
            self.on_change(self)
        return status

    def remote_stop(self, transaction_id: int) -> str:
        """RemoteStopTransaction.req: Accepted when that transaction runs here, and then it
        has ended (`report_remote_stops` sends its StopTransaction.req after the answer)."""
        for connector, car in self.cars.items():
            if car.transaction_id == transaction_id:
                self.integrate(self.clock.now())
                self.holder.stop_transaction(connector)
                car.transaction_id = None
                self.stopped_remotely.append((connector, transaction_id))
                if self.on_change is not None:
                    self.on_change(self)
                return "Accepted"
        return "Rejected"

    def report_remote_stops(self) -> None:
        for connector, transaction_id in self.stopped_remotely:
            task = asyncio.create_task(self._report_stop(connector, transaction_id, "Remote"))
            self.sending.add(task)
            task.add_done_callback(self.sending.discard)
        self.stopped_remotely.clear()

    @property
    def busy(self) -> bool:
        """Whether something it sends of its own accord (a remote stop's StopTransaction) is
        still to go or unanswered."""
        return bool(self.stopped_remotely or self.sending)

    async def quiet(self) -> None:
        while self.busy:
            await (asyncio.gather(*self.sending) if self.sending else asyncio.sleep(0.01))

    def clear_profiles(self, payload: dict[str, Any]) -> str:
        if self.refusing:
            return "Unknown"
        status = self.holder.clear_profiles(payload)
        if self.on_change is not None:
            self.on_change(self)
        return status

    # --- what it tells AmpNexus -----------------------------------------------------------
    @contextlib.asynccontextmanager
    async def connected(self, ocpp_url: str) -> AsyncIterator[HeldCharger]:
        headers = basic_auth(self.id, self.password) if self.password else None
        async with connect(
            f"{ocpp_url}/{self.id}",
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            additional_headers=headers,
        ) as websocket:
            link = HeldCharger(self, websocket)
            link.configuration = self.configuration()
            task = asyncio.create_task(link.start())
            self.link = link
            try:
                yield link
            finally:
                self.link = None
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _call(self, message: Any) -> Any:
        assert self.link is not None, f"{self.id} is not connected"
        return await self.link.call(message)

    async def boot(self) -> None:
        booted = await self._call(
            call.BootNotification(charge_point_vendor="HeldTest", charge_point_model="H-22")
        )
        assert booted.status == "Accepted", booted
        for connector in range(1, self.holder.connectors + 1):
            await self.status(connector, "Available")

    async def status(self, connector_id: int, status: str) -> None:
        await self._call(
            call.StatusNotification(
                connector_id=connector_id,
                error_code="NoError",
                status=status,
                timestamp=iso(self.clock.now()),
            )
        )

    async def plug_in(self, connector_id: int, car: Car, id_tag: str = "TAG") -> int:
        """The car plugs in and its transaction starts now; it draws at once under whatever
        the connector holds."""
        self.integrate(self.clock.now())
        self.cars[connector_id] = car
        await self.status(connector_id, "Preparing")
        return await self._start(connector_id, id_tag)

    async def arrive(self, connector_id: int, car: Car) -> None:
        """The car plugs in (Preparing); nothing starts until `start`."""
        self.integrate(self.clock.now())
        self.cars[connector_id] = car
        await self.status(connector_id, "Preparing")

    async def start(self, connector_id: int, id_tag: str) -> int:
        """The transaction of the car at the connector starts now (a remote start's, say)."""
        return await self._start(connector_id, id_tag)

    async def _start(self, connector_id: int, id_tag: str) -> int:
        now = self.clock.now()
        started = await self._call(
            call.StartTransaction(
                connector_id=connector_id,
                id_tag=id_tag,
                meter_start=round(self.register_wh.get(connector_id, 0.0)),
                timestamp=iso(now),
            )
        )
        transaction_id = int(started.transaction_id)
        self.cars[connector_id].transaction_id = transaction_id
        self.holder.start_transaction(connector_id, transaction_id, now)
        remote = self.remote_profiles.pop(connector_id, None)
        if remote is not None:
            assert self.holder.set_profile(connector_id, remote, now) == "Accepted"
        await self.status(connector_id, "Charging")
        return transaction_id

    async def unplug(self, connector_id: int, reason: str = "EVDisconnected") -> None:
        """The car leaves; its transaction stops with it, unless it was stopped remotely."""
        now = self.clock.now()
        self.integrate(now)
        car = self.cars.pop(connector_id)
        if car.transaction_id is not None:
            await self._stop(connector_id, car, reason)
        await self.status(connector_id, "Available")

    async def _stop(self, connector_id: int, car: Car, reason: str) -> None:
        assert car.transaction_id is not None
        self.holder.stop_transaction(connector_id)
        await self._report_stop(connector_id, car.transaction_id, reason)
        car.transaction_id = None

    async def _report_stop(self, connector_id: int, transaction_id: int, reason: str) -> None:
        await self._call(
            call.StopTransaction(
                meter_stop=round(self.register_wh.get(connector_id, 0.0)),
                timestamp=iso(self.clock.now()),
                transaction_id=transaction_id,
                reason=reason,
            )
        )

    async def report(self) -> None:
        """MeterValues of every running transaction, at the clock's instant."""
        now = self.clock.now()
        self.integrate(now)
        for connector, car in self.cars.items():
            if car.transaction_id is None:
                continue
            await self._call(
                call.MeterValues(
                    connector_id=connector,
                    transaction_id=car.transaction_id,
                    meter_value=[
                        {
                            "timestamp": iso(now),
                            "sampledValue": [
                                {
                                    "value": f"{self.register_wh.get(connector, 0.0):.0f}",
                                    "measurand": "Energy.Active.Import.Register",
                                    "unit": "Wh",
                                    "context": "Sample.Periodic",
                                },
                                {
                                    "value": f"{self.draw_w(connector, now):.0f}",
                                    "measurand": "Power.Active.Import",
                                    "unit": "W",
                                    "context": "Sample.Periodic",
                                },
                            ],
                        }
                    ],
                )
            )

    async def end_transactions_for_reboot(self) -> None:
        """Before a reboot (errata 3.36): every transaction stops; the cars stay plugged in."""
        self.integrate(self.clock.now())
        for connector, car in self.cars.items():
            if car.transaction_id is not None:
                await self._stop(connector, car, "Reboot")

    async def resume_after_reboot(self) -> None:
        """Booted again: the cars still plugged in start new transactions at once."""
        await self.boot()
        for connector in list(self.cars):
            await self.status(connector, "Preparing")
            await self._start(connector, "TAG")


class HeldCharger(TestCharger):
    """The connection of a `Station` to AmpNexus: smart-charging commands go to the station."""

    def __init__(self, station: Station, websocket: Any) -> None:
        super().__init__(station.id, websocket)
        self.station = station

    @on("SetChargingProfile")
    async def on_set_charging_profile(self, **payload: Any) -> Any:
        self.silent = self.station.silent
        await self._record("SetChargingProfile", payload)
        status = self.station.set_profile(payload["connector_id"], payload["cs_charging_profiles"])
        return call_result.SetChargingProfile(status=status)

    def asked(self, action: str) -> bool:
        """Whether AmpNexus sent it `action` on this connection."""
        return any(received == action for received, _ in self.received)

    @on("RemoteStartTransaction")
    async def on_remote_start(self, **payload: Any) -> Any:
        """Accepted; its profile waits for the transaction (the test plugs the car in)."""
        await self._record("RemoteStartTransaction", payload)
        profile = payload.get("charging_profile")
        if profile is not None:
            self.station.remote_profiles[int(payload.get("connector_id") or 1)] = profile
        return call_result.RemoteStartTransaction(status="Accepted")

    @on("RemoteStopTransaction")
    async def on_remote_stop(self, **payload: Any) -> Any:
        self.silent = self.station.silent
        await self._record("RemoteStopTransaction", payload)
        status = self.station.remote_stop(int(payload["transaction_id"]))
        return call_result.RemoteStopTransaction(status=status)

    @after("RemoteStopTransaction")
    def after_remote_stop(self, **payload: Any) -> None:
        self.station.report_remote_stops()  # after the answer, as §5.11 orders them

    @on("ClearChargingProfile")
    async def on_clear_charging_profile(self, **payload: Any) -> Any:
        self.silent = self.station.silent
        await self._record("ClearChargingProfile", payload)
        return call_result.ClearChargingProfile(status=self.station.clear_profiles(payload))
