"""Operators' charging profiles: the bound they set on a session (`operator_bound`), and the
OperatorProfiles service keeping them as the charger does, on in-memory fakes."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from ampnexus.bus.local import LocalBus
from ampnexus.charging.compiler import ChargerCapabilities
from ampnexus.domain.charge_point import ChargePoint, RegistrationStatus
from ampnexus.domain.charging_profile import (
    ChargingProfile,
    ChargingRateUnit,
    ChargingSchedule,
    ProfileKind,
    ProfilePurpose,
    RecurrencyKind,
    SchedulePeriod,
)
from ampnexus.domain.commands import ProfileFilter
from ampnexus.domain.events import (
    ChargerBooted,
    OperatorLimitChanged,
    TransactionStarted,
    TransactionStopped,
)
from ampnexus.domain.operator_profile import OperatorProfile
from ampnexus.services.operator_profiles import (
    NotLoaded,
    OperatorProfiles,
    operator_bound,
)
from tests.fakes import START, Fakes

W, A = ChargingRateUnit.W, ChargingRateUnit.A
TX, DEFAULT, MAX = (
    ProfilePurpose.TX,
    ProfilePurpose.TX_DEFAULT,
    ProfilePurpose.CHARGE_POINT_MAX,
)
CAPS = ChargerCapabilities(voltage=230.0, phases=3)
H = timedelta(hours=1)


def profile(
    purpose: ProfilePurpose,
    periods: list[tuple[int, float]],
    *,
    unit: ChargingRateUnit = W,
    kind: ProfileKind = ProfileKind.ABSOLUTE,
    start: datetime | None = START,
    duration: int | None = None,
    stack_level: int = 0,
    profile_id: int = 1,
    transaction_id: int | None = None,
    phases: int | None = None,
) -> ChargingProfile:
    relative = kind is ProfileKind.RELATIVE
    return ChargingProfile(
        profile_id,
        stack_level,
        purpose,
        kind,
        ChargingSchedule(
            unit,
            tuple(SchedulePeriod(s, limit, phases) for s, limit in periods),
            duration=duration,
            start_schedule=None if relative else start,
        ),
        recurrency_kind=RecurrencyKind.DAILY if kind is ProfileKind.RECURRING else None,
        transaction_id=transaction_id,
    )


def held(connector_id: int, p: ChargingProfile) -> OperatorProfile:
    return OperatorProfile("CP-1", connector_id, p, START)


def bound(
    records: list[OperatorProfile],
    connector_id: int = 1,
    transaction_id: int | None = 7,
    started: datetime | None = START,
    since: datetime = START,
    until: datetime = START + 4 * H,
) -> object:
    return operator_bound(records, connector_id, transaction_id, started, CAPS, since, until)


# --- the bound ----------------------------------------------------------------------------------
def test_nothing_set_is_no_bound() -> None:
    assert bound([]) is None
    other_connector = held(2, profile(TX, [(0, 5000)], transaction_id=7))
    assert bound([other_connector]) is None
    other_transaction = held(1, profile(TX, [(0, 5000)], transaction_id=8))
    assert bound([other_transaction]) is None


def test_an_absolute_tx_profile_in_watts_from_since_with_no_limit_after_its_duration() -> None:
    tx = held(1, profile(TX, [(0, 7000), (3600, 4000)], duration=7200, transaction_id=7))
    since = START + timedelta(minutes=30)
    assert bound([tx], since=since) == (
        (since, 7000.0),
        (START + H, 4000.0),
        (START + 2 * H, math.inf),
    )


def test_amps_are_watts_at_the_chargers_voltage_and_phases_or_the_periods_own() -> None:
    three = held(1, profile(TX, [(0, 16)], unit=A, transaction_id=7))
    assert bound([three]) == ((START, 16 * 230.0 * 3),)
    one = held(1, profile(TX, [(0, 16)], unit=A, transaction_id=7, phases=1))
    assert bound([one]) == ((START, 16 * 230.0),)


def test_a_relative_profile_counts_from_the_transactions_start() -> None:
    relative = held(1, profile(TX, [(0, 11000), (1800, 3000)], kind=ProfileKind.RELATIVE))
    started = START - timedelta(minutes=20)
    assert bound([relative], transaction_id=None, started=started) is None  # not a session's
    tx = held(
        1, profile(TX, [(0, 11000), (1800, 3000)], kind=ProfileKind.RELATIVE, transaction_id=7)
    )
    assert bound([tx], started=started) == (
        (START, 11000.0),
        (started + timedelta(seconds=1800), 3000.0),
    )


def test_a_daily_profile_repeats_over_the_window() -> None:
    # 2 kW from 18:00 to 20:00 every day, nothing limits otherwise.
    evening = START.replace(hour=18)
    daily = held(
        0,
        profile(DEFAULT, [(0, 2000)], kind=ProfileKind.RECURRING, start=evening, duration=7200),
    )
    since, until = START, START + timedelta(days=2)
    steps = bound([daily], since=since, until=until)
    day = timedelta(days=1)
    assert steps == (
        (since, math.inf),
        (evening, 2000.0),
        (evening + 2 * H, math.inf),
        (evening + day, 2000.0),
        (evening + day + 2 * H, math.inf),
    )


def test_the_charge_point_maximum_caps_the_tx_profile_and_a_tx_profile_overrules_the_default() -> (
    None
):
    cap = held(0, profile(MAX, [(0, 6000), (7200, 20000)]))
    default = held(0, profile(DEFAULT, [(0, 3000)], profile_id=2))
    tx = held(1, profile(TX, [(0, 9000), (3600, 5000)], profile_id=3, transaction_id=7))
    assert bound([cap, default, tx]) == (
        (START, 6000.0),
        (START + H, 5000.0),
    )
    assert bound([cap, default]) == ((START, 3000.0),)  # no TxProfile: the default
    assert bound([cap, default, tx], connector_id=0) == (  # the whole charger: its cap alone
        (START, 6000.0),
        (START + 2 * H, 20000.0),
    )


def test_a_higher_stack_level_prevails_where_it_has_a_limit() -> None:
    low = held(1, profile(DEFAULT, [(0, 8000)], stack_level=0))
    high = held(1, profile(DEFAULT, [(0, 2000)], stack_level=3, duration=3600, profile_id=2))
    assert bound([low, high]) == ((START, 2000.0), (START + H, 8000.0))


# --- the service ------------------------------------------------------------------------------
@pytest.fixture
async def fakes() -> Fakes:
    fakes = Fakes()
    for charge_point_id in ("CP-1", "CP-2"):
        await fakes.charge_points.add(
            ChargePoint(charge_point_id, 1, RegistrationStatus.ACCEPTED, created_at=START)
        )
    return fakes


@pytest.fixture
def service(fakes: Fakes) -> OperatorProfiles:
    return OperatorProfiles(fakes.operator_profiles, fakes.clock, fakes.events)


def slots(records: list[OperatorProfile]) -> list[tuple[int, str, int, int, int | None]]:
    return [
        (r.connector_id, r.purpose.value, r.stack_level, r.profile.id, r.transaction_id)
        for r in records
    ]


def started(transaction_id: int, connector_id: int = 1, id_tag: str = "TAG") -> TransactionStarted:
    return TransactionStarted(transaction_id, "CP-1", connector_id, id_tag, START)


async def test_an_accepted_profile_replaces_the_one_in_its_slot_or_with_its_id(
    fakes: Fakes, service: OperatorProfiles
) -> None:
    await service.accepted("CP-1", 0, profile(DEFAULT, [(0, 5000)], stack_level=2), "ann")
    await service.accepted("CP-1", 1, profile(DEFAULT, [(0, 4000)], stack_level=2, profile_id=2))
    await service.accepted("CP-1", 1, profile(DEFAULT, [(0, 3000)], stack_level=2, profile_id=3))
    records = await service.of_charger("CP-1")
    assert slots(records) == [
        (0, "TxDefaultProfile", 2, 1, None),
        (1, "TxDefaultProfile", 2, 3, None),
    ]
    assert records[0].set_by == "ann"
    await service.accepted("CP-1", 1, profile(MAX, [(0, 9000)], profile_id=1))  # same id
    assert slots(await service.of_charger("CP-1")) == [
        (1, "ChargePointMaxProfile", 0, 1, None),
        (1, "TxDefaultProfile", 2, 3, None),
    ]
    assert len(fakes.events.of(OperatorLimitChanged)) == 4


async def test_clearing_removes_what_matches_and_says_so_only_when_something_went(
    fakes: Fakes, service: OperatorProfiles
) -> None:
    await service.accepted("CP-1", 0, profile(DEFAULT, [(0, 5000)], stack_level=2))
    await service.accepted("CP-1", 0, profile(MAX, [(0, 9000)], profile_id=2))
    fakes.events.clear()
    await service.cleared("CP-1", ProfileFilter(purpose=TX))
    assert fakes.events.of(OperatorLimitChanged) == []
    await service.cleared("CP-1", ProfileFilter(connector_id=0, stack_level=2))
    assert slots(await service.of_charger("CP-1")) == [(0, "ChargePointMaxProfile", 0, 2, None)]
    assert fakes.events.of(OperatorLimitChanged) == [OperatorLimitChanged("CP-1", START)]


async def test_a_remote_starts_profile_binds_to_the_transaction_it_started(
    fakes: Fakes, service: OperatorProfiles
) -> None:
    """services/remote_starts.py matches the start (tests/unit/test_remote_starts.py); the
    event hands on the profile the remote start carried."""
    tx = profile(TX, [(0, 7000)], stack_level=1, kind=ProfileKind.RELATIVE, profile_id=9)
    await service.transaction_started(started(41))  # a local start: nothing to bind
    assert await service.of_charger("CP-1") == []
    remote = replace(started(42, connector_id=2), remote_profile=tx, remote_set_by="ann")
    await service.transaction_started(remote)
    [record] = await service.of_charger("CP-1")
    assert slots([record]) == [(2, "TxProfile", 1, 9, 42)]
    assert (record.set_at, record.set_by) == (START, "ann")


async def test_a_tx_profile_goes_with_its_transaction_and_a_boot_ends_them_all(
    fakes: Fakes, service: OperatorProfiles
) -> None:
    await service.accepted("CP-1", 1, profile(TX, [(0, 7000)], transaction_id=42))
    await service.accepted("CP-1", 2, profile(TX, [(0, 7000)], profile_id=2, transaction_id=43))
    await service.accepted("CP-1", 0, profile(DEFAULT, [(0, 5000)], profile_id=3))
    await service.transaction_stopped(TransactionStopped(41, "CP-1", START, 1))  # not its own
    await service.transaction_stopped(TransactionStopped(42, "CP-1", START, 1))
    assert slots(await service.of_charger("CP-1")) == [
        (0, "TxDefaultProfile", 0, 3, None),
        (2, "TxProfile", 0, 2, 43),
    ]
    await service.booted("CP-1")
    assert slots(await service.of_charger("CP-1")) == [(0, "TxDefaultProfile", 0, 3, None)]


async def test_events_on_the_bus_keep_the_profiles(fakes: Fakes, service: OperatorProfiles) -> None:
    bus = LocalBus()
    service.attach(bus)
    await service.accepted("CP-1", 1, profile(TX, [(0, 7000)], transaction_id=42))
    await service.accepted("CP-1", 0, profile(DEFAULT, [(0, 5000)], profile_id=2))
    bus.publish(TransactionStopped(42, "CP-1", START, 1))
    await service.drain()
    assert slots(await service.of_charger("CP-1")) == [(0, "TxDefaultProfile", 0, 2, None)]
    bus.publish(ChargerBooted("CP-1", START))
    await service.drain()
    assert len(await service.of_charger("CP-1")) == 1  # its default outlives the reboot


async def test_bound_answers_from_what_load_read_and_a_change_needs_a_new_load(
    fakes: Fakes, service: OperatorProfiles
) -> None:
    with pytest.raises(NotLoaded):
        service.bound("CP-1", 1, 7, START, CAPS, START, START + H)
    await service.load(["CP-1", "CP-2"])
    assert service.bound("CP-1", 1, 7, START, CAPS, START, START + H) is None
    await service.accepted("CP-1", 0, profile(MAX, [(0, 9000)]))
    with pytest.raises(NotLoaded):
        service.bound("CP-1", 1, 7, START, CAPS, START, START + H)
    assert service.bound("CP-2", 1, 7, START, CAPS, START, START + H) is None  # still cached
    await service.load(["CP-1"])
    assert service.bound("CP-1", 1, 7, START, CAPS, START, START + H) == ((START, 9000.0),)
