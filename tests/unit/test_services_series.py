"""SeriesService: recording what a site reports, the live value with its age limit, and one
value per planning slot."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ampnexus.charging.model import SlotGrid
from ampnexus.domain.errors import Invalid, NotFound
from ampnexus.domain.events import SiteMeterRead
from ampnexus.domain.series import Point, SeriesKind
from ampnexus.domain.site import Site
from ampnexus.services.site_series import SeriesService
from tests.fakes import Fakes

METER = SeriesKind.SITE_METER
SOLAR = SeriesKind.SOLAR_MEASURED


@pytest.fixture
async def fakes() -> Fakes:
    fakes = Fakes()
    await fakes.sites.add(Site("S", "depot", "UTC"))
    return fakes


@pytest.fixture
def series(fakes: Fakes) -> SeriesService:
    return SeriesService(fakes.series, fakes.sites, fakes.clock, fakes.events)


def ago(fakes: Fakes, seconds: float) -> Point:
    return Point(fakes.clock.now() - timedelta(seconds=seconds), 0.0)


async def test_a_meter_report_announces_its_newest_reading(
    fakes: Fakes, series: SeriesService
) -> None:
    now = fakes.clock.now()
    points = [Point(now, 30_000.0), Point(now - timedelta(seconds=20), 10_000.0)]
    assert await series.record("S", METER, points) == 2
    assert fakes.events.of(SiteMeterRead) == [SiteMeterRead("S", 30_000.0, now, now)]
    await series.record("S", SOLAR, [Point(now, 5_000.0)])
    assert len(fakes.events.of(SiteMeterRead)) == 1  # only the meter triggers a replan


async def test_reports_for_unknown_sites_or_of_impossible_values_are_refused(
    fakes: Fakes, series: SeriesService
) -> None:
    with pytest.raises(NotFound):
        await series.record("NOWHERE", METER, [Point(fakes.clock.now(), 1.0)])
    with pytest.raises(Invalid):
        await series.record("S", SOLAR, [Point(fakes.clock.now(), -1.0)])
    await series.record("S", METER, [Point(fakes.clock.now(), -4_000.0)])  # exporting
    assert (await series.points("S", SOLAR, None, None, 10, 0)).total == 0
    assert fakes.events.of(SiteMeterRead)[0].power_w == -4_000.0


async def test_the_live_value_is_the_latest_not_older_than_its_limit(
    fakes: Fakes, series: SeriesService
) -> None:
    now = fakes.clock.now()
    await series.record("S", METER, [Point(now - timedelta(seconds=50), 12_000.0)])
    assert await series.latest("S", METER, timedelta(seconds=60)) == 12_000.0
    fakes.clock.advance(seconds=11)  # 61 s old now: stale, not 0
    assert await series.latest("S", METER, timedelta(seconds=60)) is None
    await series.record("S", METER, [Point(fakes.clock.now(), 8_000.0)])
    assert await series.latest("S", METER, timedelta(seconds=60)) == 8_000.0


async def test_a_reading_sent_again_replaces_the_one_of_the_same_instant(
    fakes: Fakes, series: SeriesService
) -> None:
    moment = fakes.clock.now()
    await series.record("S", METER, [Point(moment, 1_000.0)])
    await series.record("S", METER, [Point(moment, 2_000.0)])
    page = await series.points("S", METER, None, None, 10, 0)
    assert (page.total, [p.value for p in page.items]) == (1, [2_000.0])
    assert await series.latest("S", METER, timedelta(seconds=5)) == 2_000.0


async def test_slots_take_the_time_weighted_mean_of_what_held(
    fakes: Fakes, series: SeriesService
) -> None:
    start = fakes.clock.now()
    earlier = Point(start - timedelta(hours=1), 4_000.0)  # still holds at the grid's start
    change = Point(start + timedelta(minutes=15), 8_000.0)
    await series.record("S", SOLAR, [change, earlier])
    values = await series.resampled("S", SOLAR, SlotGrid(start, 1800, 2))
    assert values == pytest.approx((6_000.0, 8_000.0))
    held = await series.resampled(
        "S", SOLAR, SlotGrid(start, 1800, 2), max_hold=timedelta(minutes=15), missing=-1.0
    )
    # The hour-old point no longer holds; the new one holds its 15 minutes, then nothing.
    assert held == pytest.approx(((8_000.0 - 1.0) / 2, -1.0))
