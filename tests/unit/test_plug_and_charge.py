"""Plug & charge against in-memory stores, a fake clock and a command port that records:
a plug-in on a charger in that mode is sent one remote start with the charger's own tag, at
most one per connector per 30 s, none where a session runs or in another mode."""

from __future__ import annotations

from typing import Any

import pytest

from ampnexus.domain.charge_point import ChargePoint, RegistrationStatus
from ampnexus.domain.charging_mode import ChargingMode
from ampnexus.domain.commands import Acceptance, Answer
from ampnexus.domain.id_tag import AuthorizationStatus, own_id_tag
from ampnexus.domain.transaction import TransactionStart
from ampnexus.services.alerts import AlertService
from ampnexus.services.authorization import AuthorizationService
from ampnexus.services.charge_points import ChargePointService
from ampnexus.services.commands import CommandService
from ampnexus.services.data_transfer import DataTransferService
from ampnexus.services.modes import ModeService
from ampnexus.services.plug_and_charge import REMOTE_START_GAP, PlugAndCharge
from ampnexus.services.presence import Presence
from ampnexus.services.remote_starts import RemoteStarts
from ampnexus.services.transactions import TransactionService
from tests.fakes import Fakes


class Port:
    """The command port's remote start: records and answers `answer`."""

    def __init__(self) -> None:
        self.sent: list[tuple[Any, ...]] = []
        self.answer = Acceptance.ACCEPTED

    async def remote_start(self, *request: Any) -> Answer[Acceptance]:
        self.sent.append(request)
        return Answer(self.answer)


class World:
    def __init__(self, fakes: Fakes) -> None:
        clock = fakes.clock
        remote_starts = RemoteStarts(clock)
        self.fakes, self.port = fakes, Port()
        self.modes = ModeService(fakes.modes, fakes.charge_points, fakes.sites, clock)
        authorization = AuthorizationService(fakes.id_tags, clock)
        self.transactions = TransactionService(
            fakes.transactions,
            authorization,
            clock,
            AlertService(fakes.alerts, clock),
            remote_starts=remote_starts,
        )
        commands = CommandService(
            self.port,  # type: ignore[arg-type]
            ChargePointService(fakes.charge_points, Presence(), clock, 300),
            DataTransferService(fakes.data_transfers, clock),
            fakes.transactions,
            remote_starts,
        )
        self.plug_and_charge = PlugAndCharge(
            self.modes, authorization, self.transactions, commands, clock
        )

    async def start(self, connector_id: int, id_tag: str) -> tuple[int, AuthorizationStatus]:
        start = TransactionStart("CP-1", connector_id, id_tag, 0, self.fakes.clock.now())
        transaction_id, info = await self.transactions.start(start)
        return transaction_id, info.status


@pytest.fixture
async def world() -> World:
    fakes = Fakes()
    charger = ChargePoint("CP-1", 1, RegistrationStatus.ACCEPTED, created_at=fakes.clock.now())
    await fakes.charge_points.add(charger)
    return World(fakes)


async def in_plug_and_charge(world: World) -> None:
    await world.modes.set("CP-1", ChargingMode.PLUG_AND_CHARGE, None, "tests")


async def test_a_plug_in_starts_a_remote_session_with_the_chargers_own_tag(world: World) -> None:
    await in_plug_and_charge(world)
    assert await world.plug_and_charge.plugged_in("CP-1", 2)
    assert world.port.sent == [("CP-1", own_id_tag("CP-1"), 2, None)]
    transaction_id, status = await world.start(2, own_id_tag("CP-1"))
    assert status is AuthorizationStatus.ACCEPTED
    assert (await world.transactions.get(transaction_id)).started_remotely


async def test_another_mode_sends_nothing(world: World) -> None:
    assert not await world.plug_and_charge.plugged_in("CP-1", 1)  # smart, by default
    await world.modes.set("CP-1", ChargingMode.USER_CONTROLLED, None, "tests")
    assert not await world.plug_and_charge.plugged_in("CP-1", 1)
    assert world.port.sent == []


async def test_one_remote_start_per_connector_per_30_seconds(world: World) -> None:
    await in_plug_and_charge(world)
    world.port.answer = Acceptance.REJECTED
    assert not await world.plug_and_charge.plugged_in("CP-1", 1)  # refused: nothing raised
    world.fakes.clock.advance(REMOTE_START_GAP / 2)
    assert not await world.plug_and_charge.plugged_in("CP-1", 1)
    # Another connector has its own 30 s: sent (and refused).
    assert not await world.plug_and_charge.plugged_in("CP-1", 2)
    assert [request[2] for request in world.port.sent] == [1, 2]
    world.fakes.clock.advance(REMOTE_START_GAP / 2)
    world.port.answer = Acceptance.ACCEPTED
    assert await world.plug_and_charge.plugged_in("CP-1", 1)
    assert [request[2] for request in world.port.sent] == [1, 2, 1]


async def test_a_refused_remote_start_leaves_a_later_start_local(world: World) -> None:
    await in_plug_and_charge(world)
    world.port.answer = Acceptance.REJECTED
    await world.plug_and_charge.plugged_in("CP-1", 1)
    transaction_id, _ = await world.start(1, own_id_tag("CP-1"))
    assert not (await world.transactions.get(transaction_id)).started_remotely


async def test_no_remote_start_where_a_session_runs(world: World) -> None:
    await in_plug_and_charge(world)
    await world.start(1, "CARD-1")
    assert not await world.plug_and_charge.plugged_in("CP-1", 1)
    assert world.port.sent == []
