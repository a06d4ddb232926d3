"""SmartChargingService's own rules, against in-memory fakes of its ports and a fake clock:
the real planner, real site and need services over fake stores, and chargers that hold
what they are sent (or refuse it, or never answer)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import timedelta

import pytest

from ampnexus.charging.planner import plan
from ampnexus.domain.alert import Alert, AlertKind, Severity
from ampnexus.domain.charge_point import ChargePoint, RegistrationStatus
from ampnexus.domain.charging_profile import ChargingProfile, ProfilePurpose, ProfileStatus
from ampnexus.domain.commands import Acceptance, Answer, ConfigurationRead
from ampnexus.domain.errors import CommandTimeout
from ampnexus.domain.series import Point, SeriesKind
from ampnexus.domain.site import Placement, Site
from ampnexus.domain.transaction import TransactionStart
from ampnexus.services.alerts import AlertService
from ampnexus.services.needs import NeedService
from ampnexus.services.site_series import SeriesService
from ampnexus.services.sites import SiteService
from ampnexus.services.smart_charging import SmartChargingService
from ampnexus.services.tariffs import TariffService
from tests.fakes import Fakes

SITE_W = 22_000.0
CHARGERS = ("CP-1", "CP-2", "CP-3")


class Chargers:
    """The command port as chargers that take every profile, except the refusing ones, which
    reject them, and the silent ones, which never answer anything. Remote stops are
    recorded and accepted."""

    def __init__(self) -> None:
        self.silent: set[str] = set()
        self.timeout_s: float | None = None  # a silent one's commands time out (None: never)
        self.refusing: set[str] = set()
        self.sent: list[tuple[str, int, ChargingProfile]] = []
        self.asked: list[str] = []  # every command, answered or not
        self.stops: list[tuple[str, int]] = []
        self.connected: set[str] = set(CHARGERS)

    async def get_configuration(
        self, charge_point_id: str, keys: Sequence[str]
    ) -> ConfigurationRead:
        await self._answer(charge_point_id)
        values = {"ChargingScheduleAllowedChargingRateUnit": "Current,Power"}
        return ConfigurationRead(values | {"NumberOfConnectors": "1"})

    async def set_charging_profile(
        self, charge_point_id: str, connector_id: int, profile: ChargingProfile
    ) -> Answer[ProfileStatus]:
        await self._answer(charge_point_id)
        if charge_point_id in self.refusing:
            return Answer(ProfileStatus.REJECTED)
        self.sent.append((charge_point_id, connector_id, profile))
        return Answer(ProfileStatus.ACCEPTED)

    async def remote_stop(self, charge_point_id: str, transaction_id: int) -> Answer[Acceptance]:
        self.stops.append((charge_point_id, transaction_id))  # asked, answered or not
        await self._answer(charge_point_id)
        return Answer(Acceptance.ACCEPTED)

    def is_connected(self, charge_point_id: str) -> bool:
        return charge_point_id in self.connected

    async def _answer(self, charge_point_id: str) -> None:
        self.asked.append(charge_point_id)
        if charge_point_id in self.silent:
            if self.timeout_s is None:
                await asyncio.Event().wait()  # no answer, ever
            await asyncio.sleep(self.timeout_s)
            raise CommandTimeout(f"{charge_point_id} did not answer")

    def tx_profiles(self, charge_point_id: str) -> list[ChargingProfile]:
        return [
            profile
            for charger, _, profile in self.sent
            if charger == charge_point_id and profile.purpose is ProfilePurpose.TX
        ]


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()


@pytest.fixture
def chargers() -> Chargers:
    return Chargers()


@pytest.fixture
async def build(fakes: Fakes, chargers: Chargers) -> Callable[..., SmartChargingService]:
    sites = SiteService(fakes.sites, fakes.clock, fakes.events)
    await sites.create(Site("S", "Depot", "UTC", SITE_W))
    for charger in CHARGERS:
        await fakes.charge_points.add(ChargePoint(charger, 0, RegistrationStatus.ACCEPTED))
        await sites.place(Placement(charger, "S", phases=3, max_power_w=11_000.0))
        started = fakes.clock.now() - timedelta(minutes=10)
        await fakes.transactions.start(TransactionStart(charger, 1, "TAG", 0, started), started)
    made: list[SmartChargingService] = []

    def service(**options: float) -> SmartChargingService:
        made.append(
            SmartChargingService(
                sites=sites,
                sessions=fakes.transactions,
                needs=NeedService(
                    fakes.needs, fakes.transactions, fakes.id_tags, fakes.drivers, fakes.clock
                ),
                signals=SeriesService(fakes.series, fakes.sites, fakes.clock, fakes.events),
                prices=TariffService(fakes.tariffs, fakes.sites, fakes.clock),
                presence=chargers,
                commands=chargers,
                planner=plan,
                clock=fakes.clock,
                alerts=AlertService(fakes.alerts, fakes.clock, fakes.events),
                forecast_weeks=0,
                **options,  # type: ignore[arg-type]
            )
        )
        return made[-1]

    yield service
    for each in made:
        await each.stop()


async def building(fakes: Fakes, watts: float) -> None:
    """The site meter reads `watts` now; no car reports, so all of it is the building."""
    series = SeriesService(fakes.series, fakes.sites, fakes.clock, fakes.events)
    await series.record("S", SeriesKind.SITE_METER, [Point(fakes.clock.now(), watts)])


async def open_alerts(fakes: Fakes, kind: AlertKind, charger: str) -> list[Alert]:
    return list((await fakes.alerts.list(True, kind, charger, "S", 10, 0)).items)


async def until_alerted(fakes: Fakes, kind: AlertKind, *chargers: str) -> None:
    for _ in range(500):
        if all([await open_alerts(fakes, kind, charger) for charger in chargers]):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"no {kind} alert on {chargers}")


async def until(condition: Callable[[], bool], within_s: float = 5.0) -> None:
    for _ in range(int(within_s / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not within {within_s} s")


async def test_every_running_session_gets_a_profile_for_its_transaction_within_the_site(
    build: Callable[..., SmartChargingService], chargers: Chargers, fakes: Fakes
) -> None:
    service = build()
    site_plan = await service.replan("S")
    await service.dispatched("S")
    now = fakes.clock.now()
    held_w = 0.0
    for charger, _, transaction_id in site_plan.transactions.values():
        (profile,) = chargers.tx_profiles(charger)
        assert profile.transaction_id == transaction_id
        period = profile.schedule.periods[0]
        watts = period.limit if profile.schedule.unit == "W" else period.limit * 230 * 3
        assert profile.valid_from is None or profile.valid_from <= now
        held_w += watts
    assert 0 < held_w <= SITE_W + 1.0


async def test_a_silent_charger_does_not_hold_up_the_others(
    build: Callable[..., SmartChargingService], chargers: Chargers
) -> None:
    chargers.silent.add("CP-1")
    service = build(profile_deadline_s=30.0)  # waiting for it would take 30 s
    await asyncio.wait_for(service.replan("S"), 5.0)
    await until(lambda: bool(chargers.tx_profiles("CP-2") and chargers.tx_profiles("CP-3")))
    assert chargers.tx_profiles("CP-1") == []


async def test_a_charger_found_silent_withholds_no_later_increase_and_is_still_asked(
    build: Callable[..., SmartChargingService], chargers: Chargers, fakes: Fakes
) -> None:
    chargers.silent.add("CP-1")
    chargers.timeout_s = 0.4
    service = build(profile_deadline_s=0.2)
    await service.replan("S")
    await service.dispatched("S")  # CP-1 found silent at the deadline: planned at its maximum
    await asyncio.sleep(0.3)  # and its commands timed out
    await service.settled("S")
    before = {c: len(chargers.tx_profiles(c)) for c in ("CP-2", "CP-3")}
    await SiteService(fakes.sites, fakes.clock, fakes.events).update("S", {"grid_limit_w": 33e3})
    service.placement_changed(set())  # what its SiteChanged event does
    site_plan = await service.replan("S")
    await asyncio.wait_for(service.dispatched("S"), 0.15)  # not a deadline's wait
    assert all(len(chargers.tx_profiles(c)) > before[c] for c in before), "increases withheld"
    assert not any("withheld" in alert for alert in site_plan.alerts)
    asked = chargers.asked.count("CP-1")
    await asyncio.sleep(0.5)  # any probe still on its way timed out
    await service.replan("S")
    await until(lambda: chargers.asked.count("CP-1") > asked, 1.0)  # asked again, not waited for


async def test_a_replan_that_changes_nothing_sends_nothing(
    build: Callable[..., SmartChargingService], chargers: Chargers
) -> None:
    service = build()
    await service.replan("S")
    await service.dispatched("S")
    sent = len(chargers.sent)
    assert all(chargers.tx_profiles(c) for c in CHARGERS)
    await service.replan("S")
    await service.dispatched("S")
    assert len(chargers.sent) == sent


async def test_a_burst_of_requests_makes_at_most_two_replans(
    build: Callable[..., SmartChargingService],
) -> None:
    service = build(replan_gap_s=0.05)
    for _ in range(20):
        service.request_replan("S")
    await service.settled("S")
    assert 1 <= service.replans_made("S") <= 2


async def transaction_of(fakes: Fakes, charger: str) -> int:
    (running,) = await fakes.transactions.active_on([charger])
    return running.id


async def test_a_refusing_charger_whose_most_does_not_fit_beside_the_building_is_stopped(
    build: Callable[..., SmartChargingService], chargers: Chargers, fakes: Fakes
) -> None:
    """CP-1 refuses every profile and may draw its 11 kW; with a 14 kW building that is 25 kW
    on a 22 kW site even with CP-2 and CP-3 at 0: only stopping its session keeps the site
    in. It is asked once, however many replans follow, and the operator is told."""
    chargers.refusing.add("CP-1")
    await building(fakes, 14_000.0)
    service = build()
    await service.replan("S")
    await until_alerted(fakes, AlertKind.CHARGER_REFUSES_PROFILES, "CP-1")
    await until(lambda: bool(chargers.stops))
    for _ in range(3):
        await service.replan("S")
        await service.dispatched("S")
    assert chargers.stops == [("CP-1", await transaction_of(fakes, "CP-1"))]
    (alert,) = await open_alerts(fakes, AlertKind.SESSION_STOPPED, "CP-1")
    assert alert.severity is Severity.CRITICAL
    assert alert.details["stopped"] is True


async def test_a_refusing_charger_that_fits_beside_the_building_is_not_stopped(
    build: Callable[..., SmartChargingService], chargers: Chargers, fakes: Fakes
) -> None:
    chargers.refusing.add("CP-1")
    await building(fakes, 8_000.0)  # 11 + 8 kW on 22: the others make room
    service = build()
    await service.replan("S")
    await until_alerted(fakes, AlertKind.CHARGER_REFUSES_PROFILES, "CP-1")
    await service.replan("S")
    await service.dispatched("S")
    assert chargers.stops == []
    assert await open_alerts(fakes, AlertKind.SESSION_STOPPED, "CP-1") == []


async def test_of_two_refusing_chargers_only_as_many_are_stopped_as_needed(
    build: Callable[..., SmartChargingService], chargers: Chargers, fakes: Fakes
) -> None:
    """11 + 11 kW refusing and a 4 kW building on 22 kW: stopping one is enough."""
    chargers.refusing |= {"CP-1", "CP-2"}
    await building(fakes, 4_000.0)
    service = build()
    await service.replan("S")
    await until_alerted(fakes, AlertKind.CHARGER_REFUSES_PROFILES, "CP-1", "CP-2")
    await service.replan("S")
    await service.dispatched("S")
    assert len(chargers.stops) == 1
    assert chargers.stops[0][0] in {"CP-1", "CP-2"}


async def test_a_silent_charger_is_not_asked_to_stop(
    build: Callable[..., SmartChargingService], chargers: Chargers, fakes: Fakes
) -> None:
    """It would not hear it: it stays reserved at its most, and the others at 0."""
    chargers.silent.add("CP-1")
    await building(fakes, 14_000.0)
    service = build(profile_deadline_s=0.05)
    await service.replan("S")
    await until_alerted(fakes, AlertKind.CHARGER_SILENT, "CP-1")
    await service.replan("S")
    await service.dispatched("S")
    assert chargers.stops == []
