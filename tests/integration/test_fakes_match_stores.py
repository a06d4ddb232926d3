"""The in-memory fakes of tests/fakes answer as the SQL stores do, on SQLite and PostgreSQL.

Each scenario runs once on the SQL stores and once on the fakes, and what it observes must
be equal: the rules the services rely on (id tags in any case, replayed starts and stops,
one open alert per key, the newest point of an instant, bindings and needs that go with
their tag, a deleted site's chargers unplaced) hold for both, so a unit test on the fakes
tests what production does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ampnexus.domain.alert import AlertKey, AlertKind, Severity
from ampnexus.domain.charge_point import ChargePoint, RegistrationStatus
from ampnexus.domain.charging_mode import (
    ChargingMode,
    ModeSetting,
    RegulationSettings,
    ScheduleSettings,
    parse_window,
)
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
from ampnexus.domain.driver import DriverProfile
from ampnexus.domain.errors import Conflict, Invalid, NotFound
from ampnexus.domain.id_tag import IdTag
from ampnexus.domain.needs import SessionNeed
from ampnexus.domain.operator_profile import OperatorProfile
from ampnexus.domain.series import Point, SeriesKind
from ampnexus.domain.site import Circuit, Placement, Site, SiteLayout, add_circuit, place
from ampnexus.domain.tariff import PricePeriod, Tariff, TariffKind
from ampnexus.domain.transaction import (
    SUPERSEDED,
    LeftOpen,
    MeterReading,
    ReadingFilter,
    SampledValue,
    TransactionStart,
    TransactionStop,
)
from ampnexus.domain.user import Role
from ampnexus.services import ports
from ampnexus.store.alerts import SqlAlertStore
from ampnexus.store.charge_points import SqlChargePointStore
from ampnexus.store.data_transfers import SqlDataTransferStore
from ampnexus.store.database import Database
from ampnexus.store.drivers import SqlDriverProfileStore
from ampnexus.store.id_tags import SqlIdTagStore
from ampnexus.store.modes import SqlModeStore
from ampnexus.store.needs import SqlNeedStore
from ampnexus.store.operator_profiles import SqlOperatorProfileStore
from ampnexus.store.series import SqlSeriesStore
from ampnexus.store.sites import SqlSiteStore
from ampnexus.store.tariffs import SqlTariffStore
from ampnexus.store.transactions import SqlTransactionStore
from ampnexus.store.users import SqlPortalSessionStore, SqlUserStore
from tests.fakes import Fakes

AT = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@dataclass
class Stores:
    charge_points: ports.ChargePointStore
    id_tags: ports.IdTagStore
    transactions: ports.TransactionStore
    alerts: ports.AlertStore
    sites: ports.SiteStore
    tariffs: ports.TariffStore
    series: ports.SeriesStore
    drivers: ports.DriverProfileStore
    needs: ports.NeedStore
    modes: ports.ModeStore
    operator_profiles: ports.OperatorProfileStore
    users: ports.UserStore
    portal_sessions: ports.PortalSessionStore
    data_transfers: ports.DataTransferStore


Scenario = Callable[[Stores], Awaitable[list[object]]]


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    database.migrate()
    database.start()
    try:
        yield database
    finally:
        database.close()


def sql_stores(db: Database) -> Stores:
    return Stores(
        SqlChargePointStore(db),
        SqlIdTagStore(db),
        SqlTransactionStore(db),
        SqlAlertStore(db),
        SqlSiteStore(db),
        SqlTariffStore(db),
        SqlSeriesStore(db),
        SqlDriverProfileStore(db),
        SqlNeedStore(db),
        SqlModeStore(db),
        SqlOperatorProfileStore(db),
        SqlUserStore(db),
        SqlPortalSessionStore(db),
        SqlDataTransferStore(db),
    )


def fake_stores() -> Stores:
    f = Fakes()
    return Stores(
        f.charge_points,
        f.id_tags,
        f.transactions,
        f.alerts,
        f.sites,
        f.tariffs,
        f.series,
        f.drivers,
        f.needs,
        f.modes,
        f.operator_profiles,
        f.users,
        f.portal_sessions,
        f.data_transfers,
    )


async def outcome(call: Awaitable[Any]) -> object:
    """What a call returned, or the kind of domain error it raised."""
    try:
        return await call
    except (Conflict, Invalid, NotFound) as error:
        return type(error).__name__


async def id_tags(s: Stores) -> list[object]:
    await s.id_tags.add(IdTag("Card-7"), AT)
    seen: list[object] = [
        await s.id_tags.get("CARD-7"),
        await outcome(s.id_tags.add(IdTag("cArd-7"), AT)),
        await s.id_tags.delete("card-7"),
        await s.id_tags.get("Card-7"),
    ]
    for tag in ("b", "A", "c"):
        await s.id_tags.add(IdTag(tag), AT)
    seen.append(await s.id_tags.list(2, 1))
    return seen


async def transactions(s: Stores) -> list[object]:
    start = TransactionStart("CP-1", 1, "TAG", 100, AT)
    first = await s.transactions.start(start, AT)
    second = await s.transactions.start(TransactionStart("CP-1", 2, "TAG", 0, AT), AT)
    energy = SampledValue("150")  # no unit: Wh is filled in
    power = SampledValue("7000", "Power.Active.Import", unit="W")
    later = AT + timedelta(minutes=1)
    await s.transactions.add_meter_values(
        "CP-1", 1, first, [MeterReading(later, (energy,)), MeterReading(AT, (power,))], AT
    )
    await s.transactions.add_meter_values("CP-1", 1, first, [MeterReading(later, (power,))], AT)
    await s.transactions.add_rejected_meter_values(
        "CP-2", 1, first, [MeterReading(AT, (power,))], AT
    )
    stop = TransactionStop("CP-1", first, 900, later, reason=None)
    return [
        await s.transactions.start(start, later),  # replayed: the first id
        second,
        await s.transactions.highest_transaction_id(),
        await s.transactions.owner(second),
        await s.transactions.owner(99),
        await s.transactions.stop(TransactionStop("CP-2", first, 1, later), later),  # not its own
        await s.transactions.stop(stop, later),
        await s.transactions.stop(stop, later),  # replayed
        await s.transactions.stop(TransactionStop("CP-1", 42, 1, later), later),
        await s.transactions.get(first),
        await s.transactions.list("CP-1", None, 10, 0),
        await s.transactions.list(None, True, 10, 0),
    ]


async def sessions_left_open(s: Stores) -> list[object]:
    """Closed at their latest total register reading (kWh read as Wh), else at the fallback
    with no energy; never twice; only what the bounds let through."""
    later = AT + timedelta(minutes=1)
    first = await s.transactions.start(TransactionStart("CP-1", 1, "TAG", 100, AT), AT)
    await s.transactions.start(TransactionStart("CP-1", 2, "TAG", 0, AT), AT)
    register = SampledValue("0.5", unit="kWh")
    per_phase = SampledValue("9", unit="kWh", phase="L1")
    await s.transactions.add_meter_values(
        "CP-1",
        1,
        first,
        [MeterReading(later, (per_phase, register)), MeterReading(AT, (register,))],
        AT,
    )

    def left(connector_id: int, **bounds: Any) -> LeftOpen:
        return LeftOpen("CP-1", connector_id, SUPERSEDED, "why", AT + timedelta(hours=1), **bounds)

    return [
        await s.transactions.close_left_open(left(1, other_than=first)),
        await s.transactions.close_left_open(left(1, started_by=AT - timedelta(seconds=1))),
        await s.transactions.close_left_open(left(1, started_by=AT)),
        await s.transactions.close_left_open(left(1)),  # closed already
        await s.transactions.close_left_open(left(2, received_before=AT)),
        await s.transactions.close_left_open(left(2, received_before=later)),
        await s.transactions.get(first),
        await s.transactions.list("CP-1", None, 10, 0),
    ]


async def charger_readings_and_data_transfers(s: Stores) -> list[object]:
    later = AT + timedelta(minutes=1)
    energy, power = SampledValue("150"), SampledValue("7", "Power.Active.Import", "kW")
    await s.transactions.add_meter_values(
        "CP-1", 0, None, [MeterReading(AT, (energy, power)), MeterReading(later, (energy,))], AT
    )
    await s.transactions.add_meter_values("CP-1", 2, None, [MeterReading(AT, (power,))], later)
    await s.transactions.add_meter_values("CP-2", 1, None, [MeterReading(AT, (energy,))], AT)
    await s.transactions.add_rejected_meter_values("CP-1", 1, 7, [MeterReading(AT, (energy,))], AT)
    for direction, status in (("in", "Accepted"), ("out", None), ("out", "Rejected")):
        await s.data_transfers.record("CP-1", direction, "com.v", "m", "d", status, AT)
    await s.data_transfers.record("CP-2", "in", "com.v", None, None, "UnknownVendorId", later)
    return [
        await s.transactions.charger_readings("CP-1", ReadingFilter(), 10, 0),
        await s.transactions.charger_readings("CP-1", ReadingFilter(), 2, 1),
        await s.transactions.charger_readings("CP-1", ReadingFilter(connector_id=2), 10, 0),
        await s.transactions.charger_readings("CP-1", ReadingFilter(since=later), 10, 0),
        await s.transactions.charger_readings("CP-1", ReadingFilter(until=later), 10, 0),
        await s.data_transfers.list("CP-1", 10, 0),
        await s.data_transfers.list("CP-1", 1, 1),
        await s.data_transfers.list("CP-2", 10, 0),
    ]


async def alerts(s: Stores) -> list[object]:
    key = AlertKey(AlertKind.CHARGER_SILENT, charge_point_id="CP-1")
    site_key = AlertKey(AlertKind.REPLAN_FAILED, site_id="S")
    seen: list[object] = [
        await s.alerts.raise_alert(key, Severity.WARNING, "a", {}, AT),
        await s.alerts.raise_alert(key, Severity.CRITICAL, "b", {"n": 1}, AT, occurrences=4),
        await s.alerts.raise_alert(site_key, Severity.WARNING, "c", {}, AT + timedelta(1)),
        await s.alerts.resolve(key, AT),
        await s.alerts.resolve(key, AT),
        await s.alerts.raise_alert(key, Severity.WARNING, "d", {}, AT),
        await s.alerts.resolve_id(99, AT),
    ]
    for open_only in (None, True, False):
        seen.append(await s.alerts.list(open_only, None, None, None, 10, 0))
    seen.append(await s.alerts.list(None, AlertKind.CHARGER_SILENT, "CP-1", None, 1, 1))
    return seen


async def series(s: Stores) -> list[object]:
    await s.sites.add(Site("S", "depot", "UTC", created_at=AT))
    meter = SeriesKind.SITE_METER
    points = [Point(AT + timedelta(seconds=i * 10), float(i)) for i in range(5)]
    await s.series.add("S", meter, points, AT)
    await s.series.add("S", meter, [Point(AT + timedelta(seconds=10), 99.0)], AT)
    await s.series.add("S", SeriesKind.SOLAR_MEASURED, [Point(AT, 5.0)], AT)
    start, end = AT + timedelta(seconds=15), AT + timedelta(seconds=35)
    return [
        await s.series.points("S", meter, None, None, 10, 0),
        await s.series.points("S", meter, AT + timedelta(seconds=10), end, 1, 1),
        await s.series.window("S", meter, start, end),
        await s.series.window("S", meter, AT - timedelta(1), AT),
    ]


async def drivers_and_needs(s: Stores) -> list[object]:
    for tag in ("Card-A", "Card-B"):
        await s.id_tags.add(IdTag(tag), AT)
    ann = await s.drivers.add(DriverProfile("Ann", id_tags=("CARD-A",), created_at=AT))
    assert ann.id is not None
    for arrival in (AT, AT + timedelta(hours=2), AT + timedelta(hours=1)):
        started = await s.transactions.start(TransactionStart("CP", 1, "card-a", 0, arrival), AT)
        await s.transactions.stop(
            TransactionStop("CP", started, 5000, arrival + timedelta(minutes=30)), AT
        )
    running = await s.transactions.start(TransactionStart("CP", 1, "Card-A", 0, AT), AT)
    await s.needs.put(SessionNeed(id_tag="Card-A", energy_wh=1.0, updated_at=AT))
    await s.needs.put(SessionNeed(id_tag="Card-A", energy_wh=2.0, updated_at=AT))  # replaced
    await s.needs.put(SessionNeed(transaction_id=running, energy_wh=3.0, updated_at=AT))
    seen: list[object] = [
        ann,
        await outcome(s.drivers.add(DriverProfile("Ghost", id_tags=("NOPE",), created_at=AT))),
        await outcome(s.drivers.add(DriverProfile("Ben", id_tags=("card-a",), created_at=AT))),
        await s.drivers.by_id_tag("card-A"),
        await s.needs.for_id_tag("CARD-A"),
        await s.needs.for_transaction(running),
        await s.needs.history(["CARD-A"], 2),
        await s.drivers.unbind(ann.id, "Card-B"),
    ]
    await s.drivers.replace(DriverProfile("Ann", id_tags=("card-b",), id=ann.id))
    seen.append(await s.drivers.get(ann.id))
    await s.id_tags.delete("CARD-B")  # its binding goes with it
    await s.id_tags.delete("card-a")  # and its need
    seen += [await s.drivers.get(ann.id), await s.needs.for_id_tag("Card-A")]
    return seen


async def sites_and_tariffs(s: Stores) -> list[object]:
    await s.sites.add(Site("S", "depot", "UTC", created_at=AT))
    await s.sites.add(Site("T", "other", "UTC", created_at=AT))
    for charge_point_id in ("CP-1", "CP-2"):
        await s.charge_points.add(
            ChargePoint(charge_point_id, 0, RegistrationStatus.ACCEPTED, created_at=AT)
        )
    await s.sites.edit_layout("S", lambda layout: _with_circuit(layout, "main"))
    placement = Placement("CP-1", "S", "main", phases=1, max_power_w=7400.0)
    await s.sites.edit_layout("S", lambda layout: place(layout, placement))
    await s.sites.set_placement(Placement("CP-2", "T"))
    tariff = await s.tariffs.add(Tariff("S", "agile", TariffKind.DYNAMIC, created_at=AT))
    assert tariff.id is not None
    half = timedelta(minutes=30)
    periods = [PricePeriod(AT + i * half, AT + (i + 1) * half, float(i)) for i in range(4)]
    seen: list[object] = [
        await outcome(s.sites.add(Site("S", "again", "UTC", created_at=AT))),
        await outcome(s.sites.edit_layout("S", lambda x: place(x, Placement("GHOST", "S")))),
        await s.sites.layout("S"),
        await s.sites.placement("CP-1"),
        await s.sites.placement("GHOST"),
        await s.charge_points.get("CP-1"),
        await s.tariffs.replace_periods(tariff.id, periods),
        await s.tariffs.replace_periods(tariff.id, [PricePeriod(AT + half, AT + 2 * half, 9.0)]),
        await s.tariffs.periods(tariff.id, AT + half, AT + 3 * half, None),
        await s.tariffs.get("T", tariff.id),
    ]
    await s.sites.delete("S")
    seen += [
        await s.sites.placement("CP-1"),
        await s.sites.placement("CP-2"),
        await s.tariffs.list("S", 10, 0),
        await s.sites.list(10, 0),
    ]
    return seen


async def modes(s: Stores) -> list[object]:
    for charge_point_id in ("CP-1", "CP-2"):
        await s.charge_points.add(
            ChargePoint(charge_point_id, 1, RegistrationStatus.ACCEPTED, created_at=AT)
        )
    await s.sites.add(
        Site("S", "depot", "UTC", default_mode=ChargingMode.PLUG_AND_CHARGE, created_at=AT)
    )
    later = AT + timedelta(minutes=1)
    regulation = RegulationSettings(
        (parse_window(["sat", "sun"], "23:30", "01:00"),), 1800, charger_applies_delay=True
    )
    schedule = ScheduleSettings((parse_window(["mon"], "22:00", "06:00"),), energy_wh=1500.5)
    seen: list[object] = [
        await s.modes.put(ModeSetting("CP-1", ChargingMode.SCHEDULE, schedule, "ann", AT)),
        await s.modes.put(
            ModeSetting("CP-1", ChargingMode.REGULATION_COMPLIANCE, regulation, "ben", later)
        ),
        await s.modes.put(ModeSetting("CP-2", ChargingMode.SMART, None, "ann", AT)),
        await outcome(s.modes.put(ModeSetting("GHOST", ChargingMode.SMART, None, "ann", AT))),
        await s.modes.get("CP-1"),
        await s.modes.clear("CP-2", "cy", later),
        await s.modes.clear("CP-2", "cy", later),
        await s.modes.get("CP-2"),
        await s.modes.history("CP-1", 1, 1),
        await s.sites.get("S"),
    ]
    await s.charge_points.delete("CP-1")  # its mode goes, its trail stays
    seen += [await s.modes.get("CP-1"), await s.modes.history("CP-1", 10, 0)]
    return seen


async def overrides_and_energy(s: Stores) -> list[object]:
    await s.charge_points.add(ChargePoint("CP-1", 1, RegistrationStatus.ACCEPTED, created_at=AT))
    first = await s.transactions.start(TransactionStart("CP-1", 1, "TAG", 1000, AT), AT)
    later = AT + timedelta(hours=1)
    second = await s.transactions.start(TransactionStart("CP-1", 2, "TAG", 0, later), AT)
    register = SampledValue("1.5", unit="kWh")
    readings = [
        MeterReading(later, (SampledValue("1200"), SampledValue("5", phase="L1"), register)),
        MeterReading(AT + timedelta(minutes=30), (SampledValue("7000", "Power.Active.Import"),)),
    ]
    await s.transactions.add_meter_values("CP-1", 1, first, readings, AT)
    seen: list[object] = [
        await s.modes.set_override("CP-1", first, "ann", AT),
        await s.modes.set_override("CP-1", first, "ben", later),  # already: nothing
        await s.modes.cancel_override("CP-1", second, "ann", later),  # none: nothing
        await s.transactions.get(first),
        await s.transactions.list("CP-1", None, 10, 0),
        await s.transactions.active_on(["CP-1"]),
        await s.transactions.energy_sessions(["CP-1"], AT, later),
        await s.transactions.energy_sessions(["CP-1"], later, later + timedelta(hours=1)),
        await s.transactions.energy_sessions(["CP-2"], AT, later),
        await s.transactions.energy_sessions(["CP-2", "CP-1"], AT, later),
        await s.transactions.energy_sessions([], AT, later),
    ]
    await s.transactions.stop(TransactionStop("CP-1", first, 3000, later), later)
    seen += [
        await s.modes.cancel_override("CP-1", first, "cy", later),
        await s.transactions.energy_sessions(["CP-1"], later, later + timedelta(hours=1)),
        await s.transactions.energy_sessions(["CP-1"], AT - timedelta(hours=1), AT),
        await s.modes.history("CP-1", 10, 0),
    ]
    return seen


def _profile(
    profile_id: int,
    purpose: ProfilePurpose,
    stack_level: int,
    transaction_id: int | None = None,
    kind: ProfileKind = ProfileKind.ABSOLUTE,
) -> ChargingProfile:
    recurring = kind is ProfileKind.RECURRING
    return ChargingProfile(
        profile_id,
        stack_level,
        purpose,
        kind,
        ChargingSchedule(
            ChargingRateUnit.A,
            (SchedulePeriod(0, 16.5), SchedulePeriod(3600, 10, number_phases=1)),
            duration=7200 if recurring else None,
            start_schedule=None if kind is ProfileKind.RELATIVE else AT,
            min_charging_rate=6.0,
        ),
        recurrency_kind=RecurrencyKind.DAILY if recurring else None,
        valid_to=AT + timedelta(days=30) if recurring else None,
        transaction_id=transaction_id,
    )


async def operator_profiles(s: Stores) -> list[object]:
    for charge_point_id in ("CP-1", "CP-2"):
        await s.charge_points.add(
            ChargePoint(charge_point_id, 1, RegistrationStatus.ACCEPTED, created_at=AT)
        )
    store, tx, default = s.operator_profiles, ProfilePurpose.TX, ProfilePurpose.TX_DEFAULT
    later = AT + timedelta(minutes=1)

    def record(connector_id: int, profile: ChargingProfile, cp: str = "CP-1") -> OperatorProfile:
        return OperatorProfile(cp, connector_id, profile, AT, "ann")

    seen: list[object] = [
        await store.put(record(0, _profile(1, ProfilePurpose.CHARGE_POINT_MAX, 0))),
        await store.put(record(0, _profile(2, default, 1, kind=ProfileKind.RECURRING))),
        await store.put(record(1, _profile(3, tx, 1, 501, ProfileKind.RELATIVE))),
        await store.put(record(2, _profile(4, tx, 1, 502))),
        await store.put(record(1, _profile(5, default, 2), cp="CP-2")),
        # The same slot on the same connector replaces; so does the same id anywhere.
        await store.put(OperatorProfile("CP-1", 1, _profile(6, tx, 1, 501), later, None)),
        await store.put(record(2, _profile(2, default, 3))),
        await outcome(store.put(record(1, _profile(7, default, 0), cp="GHOST"))),
        await store.for_chargers(["CP-1", "CP-2", "CP-3"]),
        await store.drop_transaction("CP-1", 502),
        await store.drop_transaction("CP-2", 501),  # not that charger's
        await store.clear("CP-1", ProfileFilter(profile_id=1, purpose=tx)),  # by id alone
        await store.clear("CP-1", ProfileFilter(connector_id=1, stack_level=2)),
        await store.for_chargers(["CP-1"]),
        await store.drop_tx_profiles("CP-1"),
        await store.for_chargers(["CP-1"]),
        await store.clear("CP-2", ProfileFilter()),
        await store.for_chargers(["CP-2"]),
    ]
    await store.put(record(0, _profile(8, ProfilePurpose.CHARGE_POINT_MAX, 1)))
    await s.charge_points.delete("CP-1")  # its profiles go with it
    seen.append(await store.for_chargers(["CP-1"]))
    return seen


async def users_and_sessions(s: Stores) -> list[object]:
    """Emails are unique, sessions are found by digest, expire by either bound, and go
    with their user."""
    ann = await s.users.add("ann@example.com", Role.ADMIN, "scrypt$hash-a", AT)
    bob = await s.users.add("bob@example.com", Role.VIEWER, "scrypt$hash-b", AT)
    seen: list[object] = [
        ann,
        await outcome(s.users.add("ann@example.com", Role.VIEWER, "scrypt$x", AT)),
        await s.users.find("ann@example.com"),
        await s.users.find("nobody@example.com"),
        await s.users.get(bob.id),
        await s.users.update(bob.id, {"role": Role.OPERATOR, "last_login_at": AT}),
        await s.users.update(999, {"role": Role.OPERATOR}),
        await s.users.list(),
    ]
    later = AT + timedelta(hours=1)
    a1 = await s.portal_sessions.add(ann.id, "d" * 64, "csrf-1", AT, AT + timedelta(days=7))
    await s.portal_sessions.add(ann.id, "e" * 64, "csrf-2", AT, AT + timedelta(minutes=30))
    await s.portal_sessions.add(bob.id, "f" * 64, "csrf-3", later, later + timedelta(days=7))
    await s.portal_sessions.touch(a1.id, later)
    seen += [
        await s.portal_sessions.find("d" * 64),
        await s.portal_sessions.find("0" * 64),
        # At AT + 1 h, idle since AT + 30 min: "e" is past its expiry, "d" was just seen.
        await s.portal_sessions.delete_expired(later, AT + timedelta(minutes=30)),
        await s.portal_sessions.find("e" * 64),
        await s.portal_sessions.delete("d" * 64),
        await s.portal_sessions.delete("d" * 64),
        await s.users.delete(bob.id),  # its session goes with it
        await s.portal_sessions.find("f" * 64),
        await s.users.delete(bob.id),
        await s.users.list(),
    ]
    await s.portal_sessions.add(ann.id, "g" * 64, "csrf-4", AT, AT + timedelta(days=7))
    seen.append(await s.portal_sessions.delete_for_user(ann.id))
    return seen


def _with_circuit(layout: SiteLayout, circuit_id: str) -> SiteLayout:
    return add_circuit(layout, Circuit(layout.site.id, circuit_id, max_power_w=1e4))


@pytest.mark.parametrize(
    "scenario",
    [
        id_tags,
        transactions,
        sessions_left_open,
        charger_readings_and_data_transfers,
        alerts,
        series,
        drivers_and_needs,
        sites_and_tariffs,
        modes,
        overrides_and_energy,
        operator_profiles,
        users_and_sessions,
    ],
)
async def test_the_fakes_answer_as_the_sql_stores_do(db: Database, scenario: Scenario) -> None:
    assert await scenario(fake_stores()) == await scenario(sql_stores(db))
