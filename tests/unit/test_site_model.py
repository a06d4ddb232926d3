"""Sites, circuit trees, tariffs, series, driver profiles and session needs: pure rules."""

from __future__ import annotations

import math
from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ampnexus.charging.model import SlotGrid
from ampnexus.domain.driver import DriverProfile, PriorityClass
from ampnexus.domain.errors import Conflict, Invalid, NotFound
from ampnexus.domain.needs import (
    NeedDefault,
    PastSession,
    SessionNeed,
    default_need,
    departure_after,
    resolve_need,
    typical_time_of_day,
)
from ampnexus.domain.series import Point, SeriesKind, check_points, resample, value_at
from ampnexus.domain.site import (
    Circuit,
    CircuitTreeError,
    Placement,
    Site,
    SiteLayout,
    add_circuit,
    dynamic_cap_w,
    place,
    remove_circuit,
    replace_circuit,
    subtree,
    validate_tree,
)
from ampnexus.domain.tariff import (
    WEEKDAYS,
    WEEKENDS,
    Band,
    Direction,
    PricePeriod,
    Tariff,
    TariffKind,
    check_periods,
    current_tariff,
    parse_agile_csv,
    price_at,
    prices,
)

LONDON = ZoneInfo("Europe/London")
AGILE_FILE = (
    Path(__file__).resolve().parents[1] / "data/reference/tariffs/octopus_agile_extract.csv"
)


def at(text: str) -> datetime:
    """An instant in UTC, e.g. at("2023-03-26 01:00")."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def site(**overrides: object) -> Site:
    values: dict[str, object] = {"id": "depot", "name": "Depot", "time_zone": "Europe/London"}
    values.update(overrides)
    return Site(**values)  # type: ignore[arg-type]


def circuit(circuit_id: str, parent: str | None, **limits: float) -> Circuit:
    return Circuit("depot", circuit_id, parent, **limits)  # type: ignore[arg-type]


# --- the circuit tree ---------------------------------------------------------------------------
TREE = (
    circuit("main", None, max_power_w=100_000),
    circuit("row-a", "main", max_current_a=63),
    circuit("row-b", "main"),
    circuit("bay-1", "row-a"),
)


def test_a_tree_with_one_root_is_valid():
    validate_tree(TREE)
    validate_tree(())  # a site may have no circuits at all
    assert subtree(TREE, "row-a") == {"row-a", "bay-1"}
    assert subtree(TREE, "main") == {"main", "row-a", "row-b", "bay-1"}


@pytest.mark.parametrize(
    ("circuits", "words"),
    [
        ((*TREE, circuit("other", None)), ["exactly one root", "main", "other"]),
        ((circuit("a", "b"), circuit("b", "a")), ["one root", "none"]),
        ((*TREE, circuit("x", "y"), circuit("y", "x")), ["cycle", "x -> y -> x"]),
        ((*TREE, circuit("bay-2", "nowhere")), ["unknown parent", "nowhere"]),
        ((*TREE, circuit("row-b", "main")), ["unique", "row-b"]),
    ],
)
def test_broken_trees_are_refused(circuits: tuple[Circuit, ...], words: list[str]):
    with pytest.raises(CircuitTreeError) as error:
        validate_tree(circuits)
    assert isinstance(error.value, Conflict)
    for word in words:
        assert word in str(error.value)


def test_a_circuit_cannot_be_its_own_parent():
    with pytest.raises(CircuitTreeError, match="own parent"):
        circuit("loop", "loop")


def test_layout_edits_keep_the_tree():
    layout = SiteLayout(site(), TREE)
    grown = add_circuit(layout, circuit("bay-2", "row-b", max_power_w=22_000))
    assert grown.circuit("bay-2") == circuit("bay-2", "row-b", max_power_w=22_000)

    with pytest.raises(Conflict, match="already has a circuit 'row-a'"):
        add_circuit(layout, circuit("row-a", "main"))
    with pytest.raises(Invalid, match="parent circuit 'nope'"):
        add_circuit(layout, circuit("bay-9", "nope"))
    with pytest.raises(CircuitTreeError, match="exactly one root"):
        add_circuit(layout, circuit("second-root", None))
    # Moving row-a under its own child would close a loop.
    with pytest.raises(CircuitTreeError, match="cycle"):
        replace_circuit(layout, circuit("row-a", "bay-1"))
    moved = replace_circuit(layout, circuit("bay-1", "row-b"))
    assert moved.circuit("bay-1") == circuit("bay-1", "row-b")
    with pytest.raises(NotFound):
        replace_circuit(layout, circuit("ghost", "main"))


def test_only_an_empty_circuit_can_be_removed():
    charger = Placement("CP-1", "depot", "bay-1")
    layout = SiteLayout(site(), TREE, (charger,))
    with pytest.raises(Conflict, match="sub-circuits bay-1"):
        remove_circuit(layout, "row-a")
    with pytest.raises(Conflict, match="charge points CP-1"):
        remove_circuit(layout, "bay-1")
    assert [c.id for c in remove_circuit(layout, "row-b").circuits] == ["main", "row-a", "bay-1"]
    with pytest.raises(NotFound):
        remove_circuit(layout, "ghost")


def test_a_charger_goes_on_a_circuit_of_its_site():
    layout = SiteLayout(site(), TREE, (Placement("CP-1", "depot", "row-b"),))
    moved = place(layout, Placement("CP-1", "depot", "bay-1", phases=1))
    assert moved.placements == (Placement("CP-1", "depot", "bay-1", phases=1),)
    with pytest.raises(Invalid, match="'elsewhere' is not a circuit of site 'depot'"):
        place(layout, Placement("CP-2", "depot", "elsewhere"))
    with pytest.raises(Invalid, match="also name the circuit's site_id"):
        Placement("CP-3", None, "main")


@pytest.mark.parametrize(
    ("phases", "rotation", "grid"),
    [
        (3, None, (1, 2, 3)),
        (1, None, (1,)),
        (1, "SRT", (2,)),  # the charger's L1 is wired to the grid's L2
        (1, "TRS", (3,)),
        (2, "TSR", (2, 3)),
        (1, "Unknown", (1,)),
        (None, "RTS", (1, 2, 3)),
    ],
)
def test_phase_rotation_maps_charger_phases_to_grid_phases(phases, rotation, grid):
    assert Placement("CP", "depot", phases=phases, phase_rotation=rotation).grid_phases() == grid


# --- sites and the dynamic cap --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"time_zone": "Mars/Olympus"}, "unknown time zone"),
        ({"id": "a/b"}, "site id"),
        ({"name": " "}, "name"),
        ({"safety_margin": 1.0}, "safety_margin"),
        ({"grid_limit_w": 0.0}, "grid power limit"),
        ({"phases": 4}, "phases"),
    ],
)
def test_invalid_sites_are_refused(overrides: dict[str, object], words: str):
    with pytest.raises(Invalid, match=words):
        site(**overrides)


def test_the_site_limit_is_the_lower_of_power_and_current():
    assert site(grid_limit_w=100_000).limit_w == 100_000
    assert site(grid_limit_a=100).limit_w == pytest.approx(100 * 230 * 3)  # 69 kW
    assert site(grid_limit_w=100_000, grid_limit_a=100).limit_w == pytest.approx(69_000)
    assert site(grid_limit_a=32, phases=1, voltage=240).limit_w == pytest.approx(7_680)
    assert site().limit_w == math.inf


def test_dynamic_cap_is_limit_minus_non_ev_load_plus_solar():
    depot = site(grid_limit_w=100_000, safety_margin=0.1)
    # Meter 60 kW including 20 kW of EVs: 40 kW is other load; 10 kW of solar helps.
    assert dynamic_cap_w(depot, meter_w=60_000, ev_w=20_000, solar_w=10_000) == pytest.approx(
        90_000 - 40_000 + 10_000
    )
    # The EVs' own draw never reduces what they may draw: only non-EV load does.
    assert dynamic_cap_w(depot, 60_000, 50_000) == dynamic_cap_w(depot, 10_000, 0)
    assert dynamic_cap_w(depot, 60_000, 20_000, margin=0.0) == pytest.approx(60_000)
    assert dynamic_cap_w(depot, meter_w=150_000, ev_w=0) == 0.0  # overloaded: nothing left
    assert dynamic_cap_w(site(), 5_000, 0) == math.inf
    with pytest.raises(Invalid):
        dynamic_cap_w(depot, 0, 0, margin=1.5)


# --- tariffs ------------------------------------------------------------------------------------
def half_hours(start: datetime, count: int) -> SlotGrid:
    return SlotGrid(start=start, slot_seconds=1800, count=count)


NIGHT = Band(time(0, 0), time(7, 0), import_price=7.5)
ECONOMY_7 = Tariff("depot", "E7", TariffKind.TIME_OF_USE, import_price=30.0, bands=(NIGHT,))


def test_a_fixed_tariff_is_flat():
    tariff = Tariff("depot", "flat", TariffKind.FIXED, import_price=24.5, export_price=15.0)
    grid = half_hours(at("2023-06-01 00:00"), 4)
    assert prices(tariff, grid, "Europe/London") == (24.5,) * 4
    assert prices(tariff, grid, "Europe/London", Direction.EXPORT) == (15.0,) * 4
    with pytest.raises(Invalid, match="needs import_price"):
        Tariff("depot", "flat", TariffKind.FIXED)


def test_time_of_use_follows_local_time_in_winter_and_summer():
    winter = prices(ECONOMY_7, half_hours(at("2023-01-10 00:00"), 48), LONDON)
    assert winter == (7.5,) * 14 + (30.0,) * 34  # 00:00-07:00 GMT
    summer = prices(ECONOMY_7, half_hours(at("2023-07-09 23:00"), 48), LONDON)
    assert summer == (7.5,) * 14 + (30.0,) * 34  # 00:00-07:00 BST is 23:00-06:00 UTC


def test_time_of_use_on_the_clock_change_days():
    # 26 March 2023: 00:00-07:00 local is only six hours (01:00 becomes 02:00).
    spring = prices(ECONOMY_7, half_hours(at("2023-03-26 00:00"), 46), LONDON)
    assert spring.count(7.5) == 12 and spring[:12] == (7.5,) * 12
    # 29 October 2023: 00:00-07:00 local is eight hours, from 23:00 UTC the day before.
    autumn = prices(ECONOMY_7, half_hours(at("2023-10-28 23:00"), 50), LONDON)
    assert autumn.count(7.5) == 16 and autumn[:16] == (7.5,) * 16


def test_a_band_across_midnight_belongs_to_the_day_it_starts():
    # Friday and Saturday nights only: 22:00 to 06:00 the next morning.
    weekend_nights = Band(time(22, 0), time(6, 0), 5.0, days=frozenset({4, 5}))
    tariff = Tariff(
        "depot", "tou", TariffKind.TIME_OF_USE, import_price=25.0, bands=(weekend_nights,)
    )
    friday_evening = datetime(2023, 1, 13, 21, 0, tzinfo=UTC)  # Friday, GMT = UTC
    day = prices(tariff, SlotGrid(friday_evening, 3600, 72), LONDON)
    cheap = [friday_evening + timedelta(hours=i) for i, price in enumerate(day) if price == 5.0]
    assert len(cheap) == 16
    assert cheap[0] == at("2023-01-13 22:00") and cheap[7] == at("2023-01-14 05:00")
    assert cheap[8] == at("2023-01-14 22:00") and cheap[-1] == at("2023-01-15 05:00")
    assert price_at(tariff, at("2023-01-15 22:00"), LONDON) == 25.0  # Sunday night: not a band


def test_weekday_and_weekend_bands():
    day = Band(time(7, 0), time(23, 0), 30.0, days=WEEKDAYS)
    nights = Band(time(23, 0), time(7, 0), 10.0, days=frozenset({6, 0, 1, 2, 3}))  # Sun-Thu
    friday_late = Band(time(23, 0), time(0, 0), 18.0, days=frozenset({4}))
    saturday = Band(time(0, 0), time(0, 0), 18.0, days=frozenset({5}))
    sunday = Band(time(0, 0), time(23, 0), 18.0, days=frozenset({6}))
    week = (day, nights, friday_late, saturday, sunday)
    tariff = Tariff("depot", "tou", TariffKind.TIME_OF_USE, bands=week)  # covers every minute
    local = {
        "2023-01-09 06:30": 10.0,  # Monday morning, after Sunday night
        "2023-01-09 12:00": 30.0,
        "2023-01-13 23:30": 18.0,  # Friday late
        "2023-01-14 12:00": 18.0,  # Saturday
        "2023-01-15 23:30": 10.0,  # Sunday night
    }
    for moment, price in local.items():
        assert price_at(tariff, at(moment), LONDON) == price, moment
    # Weekday nights every day would run Friday's night into Saturday's all-day band.
    every_night = Band(time(23, 0), time(7, 0), 10.0, days=WEEKDAYS)
    with pytest.raises(Invalid, match="overlap on Saturday 00:00"):
        Tariff("depot", "tou", TariffKind.TIME_OF_USE, bands=(every_night, saturday))
    with pytest.raises(Invalid, match="no band covers Friday 23:00"):
        Tariff("depot", "tou", TariffKind.TIME_OF_USE, bands=(day, nights))
    assert frozenset({5, 6}) == WEEKENDS


def test_bands_must_cover_the_week_without_a_flat_price():
    with pytest.raises(Invalid, match="no band covers Monday 07:00"):
        Tariff("depot", "tou", TariffKind.TIME_OF_USE, bands=(NIGHT,))
    with pytest.raises(Invalid, match="needs at least one band"):
        Tariff("depot", "tou", TariffKind.TIME_OF_USE, import_price=3.0)
    whole_week = Tariff(
        "depot",
        "tou",
        TariffKind.TIME_OF_USE,
        bands=(Band(time(7, 0), time(0, 0), 30.0), Band(time(0, 0), time(7, 0), 7.5)),
    )
    assert price_at(whole_week, at("2023-01-10 06:59"), LONDON) == 7.5
    assert price_at(whole_week, at("2023-01-10 23:59"), LONDON) == 30.0
    with pytest.raises(Invalid, match="whole minutes"):
        Band(time(7, 0, 30), time(8, 0), 1.0)


def test_a_slot_split_by_a_band_gets_the_time_weighted_mean():
    half_past = Band(time(0, 0), time(7, 30), 10.0)
    tariff = Tariff("depot", "tou", TariffKind.TIME_OF_USE, import_price=30.0, bands=(half_past,))
    hourly = prices(tariff, SlotGrid(at("2023-01-10 06:00"), 3600, 3), LONDON)
    assert hourly == pytest.approx((10.0, 20.0, 30.0))


def test_dynamic_prices_then_bands_then_the_flat_price():
    periods = (
        PricePeriod(at("2023-01-10 00:00"), at("2023-01-10 00:30"), 12.0, 5.0),
        PricePeriod(at("2023-01-10 00:30"), at("2023-01-10 01:00"), -2.0),
    )
    tariff = Tariff("depot", "agile", TariffKind.DYNAMIC, import_price=20.0, periods=periods)
    grid = half_hours(at("2023-01-09 23:30"), 4)
    assert prices(tariff, grid, LONDON) == (20.0, 12.0, -2.0, 20.0)
    # Export has no flat price: the nearest period's, and nothing where that has none.
    assert prices(tariff, grid, LONDON, Direction.EXPORT) == (5.0, 5.0, 0.0, 0.0)
    # Without a flat price the nearest known period holds.
    bare = Tariff("depot", "agile", TariffKind.DYNAMIC, periods=periods)
    assert prices(bare, grid, LONDON) == (12.0, 12.0, -2.0, -2.0)
    with pytest.raises(Invalid, match="no price"):
        price_at(Tariff("depot", "empty", TariffKind.DYNAMIC), at("2023-01-10 00:00"), LONDON)
    with pytest.raises(Invalid, match="no bands"):
        Tariff("depot", "agile", TariffKind.DYNAMIC, bands=(NIGHT,))


def test_price_periods_sent_together_must_not_overlap():
    check_periods([PricePeriod(at("2023-01-10 00:00"), at("2023-01-10 01:00"), 1.0)])
    with pytest.raises(Invalid, match="overlap"):
        check_periods(
            [
                PricePeriod(at("2023-01-10 00:30"), at("2023-01-10 01:00"), 1.0),
                PricePeriod(at("2023-01-10 00:00"), at("2023-01-10 01:00"), 1.0),
            ]
        )
    with pytest.raises(Invalid, match="end after it starts"):
        PricePeriod(at("2023-01-10 01:00"), at("2023-01-10 01:00"), 1.0)


def test_the_tariff_in_force_is_the_latest_valid_one():
    old = Tariff("depot", "old", TariffKind.FIXED, import_price=20.0, id=1)
    new = Tariff(
        "depot", "new", TariffKind.FIXED, import_price=25.0, id=2, valid_from=at("2024-04-01 00:00")
    )
    assert current_tariff([old, new], at("2024-03-31 23:59")) is old
    assert current_tariff([old, new], at("2024-04-01 00:00")) is new
    assert current_tariff([], at("2024-04-01 00:00")) is None


# --- the Octopus Agile file ---------------------------------------------------------------------
def test_agile_csv_first_days_of_the_real_file():
    head = "".join(AGILE_FILE.open(encoding="utf-8").readlines()[: 1 + 3 * 48])
    periods = parse_agile_csv(head)
    assert len(periods) == 3 * 48
    assert periods[0] == PricePeriod(at("2022-11-01 00:00"), at("2022-11-01 00:30"), 12.61, 6.56)
    assert periods[1] == PricePeriod(at("2022-11-01 00:30"), at("2022-11-01 01:00"), 18.48, 9.02)
    assert all(b.start == a.end for a, b in pairwise(periods))
    assert periods[-1].end == at("2022-11-04 00:00")  # GMT: local time is UTC
    tariff = Tariff("depot", "agile", TariffKind.DYNAMIC, periods=periods)
    hourly = prices(tariff, SlotGrid(at("2022-11-01 00:00"), 3600, 2), LONDON)
    assert hourly == pytest.approx(((12.61 + 18.48) / 2, (18.04 + 13.48) / 2))


def test_agile_csv_clock_change_days_of_the_real_file():
    """Real Agile rows: three stretches of the published file (tests/data/reference)."""
    periods = parse_agile_csv(AGILE_FILE.read_text(encoding="utf-8"))
    assert periods[0].start == at("2022-11-01 00:00")
    assert periods[-1].end == at("2023-11-01 00:00")
    # No gap and no overlap within a stretch (local days, so BST ones start at 23:00 UTC):
    # both clock changes are read right.
    gaps = [(a.end, b.start) for a, b in pairwise(periods) if b.start != a.end]
    assert gaps == [
        (at("2022-11-04 00:00"), at("2023-03-25 00:00")),
        (at("2023-03-27 23:00"), at("2023-09-14 23:00")),
    ]
    by_start = {period.start: period for period in periods}
    # Spring: local "00:30 -> 02:00" on 26 March is one half hour, 00:30-01:00 UTC.
    spring = by_start[at("2023-03-26 00:30")]
    assert (spring.end, spring.import_price) == (at("2023-03-26 01:00"), 30.03)
    assert by_start[at("2023-03-26 01:00")].import_price == 27.03  # 02:00 BST
    # Autumn: the file lists 01:00-02:00 once; the row before 02:00 GMT spans the gap.
    autumn = by_start[at("2023-10-29 00:30")]
    assert (autumn.end, autumn.import_price) == (at("2023-10-29 02:00"), 7.39)
    assert by_start[at("2023-10-28 23:30")].import_price == 2.77  # 00:30 BST
    long_periods = [p for p in periods if p.end - p.start != timedelta(minutes=30)]
    assert long_periods == [autumn]


def test_agile_csv_reads_a_repeated_hour_in_order():
    text = (
        "Period from,Period to,Agile Import price (p/kWh),Agile Export price (p/kWh)\n"
        "29/10/2023 00:30,29/10/2023 01:00,1,\n"
        "29/10/2023 01:00,29/10/2023 01:30,2,\n"
        "29/10/2023 01:30,29/10/2023 01:00,3,\n"  # the second 01:00 (GMT)
        "29/10/2023 01:00,29/10/2023 01:30,4,\n"
        "29/10/2023 01:30,29/10/2023 02:00,5,\n"
    )
    periods = parse_agile_csv(text)
    assert [p.start for p in periods] == [
        at("2023-10-28 23:30"),
        at("2023-10-29 00:00"),
        at("2023-10-29 00:30"),
        at("2023-10-29 01:00"),
        at("2023-10-29 01:30"),
    ]
    assert all(p.end - p.start == timedelta(minutes=30) for p in periods)
    assert periods[0].export_price is None


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("from,to,price\n", "header"),
        ("Period from,Period to,Import price\n", "no price rows"),
        ("Period from,Period to,Import price\n2023-01-01 00:00,01/01/2023 00:30,1\n", "line 2"),
        ("Period from,Period to,Import price\n01/01/2023 00:30,01/01/2023 00:00,1\n", "end after"),
        ("Period from,Period to,Import price\n01/01/2023 00:00,01/01/2023 00:30,cheap\n", "line 2"),
    ],
)
def test_bad_agile_csv_names_the_problem(text: str, words: str):
    with pytest.raises(Invalid, match=words):
        parse_agile_csv(text)


# --- series ---------------------------------------------------------------------------------------
def test_resampling_holds_each_value_and_weights_by_time():
    points = [Point(at("2023-06-01 12:00"), 1000.0), Point(at("2023-06-01 12:10"), 4000.0)]
    grid = SlotGrid(at("2023-06-01 12:00"), 900, 3)
    # Slot 1: 10 min at 1 kW, 5 min at 4 kW; then 4 kW holds.
    assert resample(points, grid) == pytest.approx((2000.0, 4000.0, 4000.0))


def test_resampling_with_a_hold_limit_and_a_missing_value():
    points = [Point(at("2023-06-01 12:05"), 600.0)]
    grid = SlotGrid(at("2023-06-01 12:00"), 600, 3)
    held = resample(points, grid, max_hold=timedelta(minutes=10))
    assert held == pytest.approx((300.0, 300.0, 0.0))
    assert resample(points, grid, missing=-1.0) == pytest.approx((299.5, 600.0, 600.0))


def test_an_empty_series_is_missing_everywhere():
    grid = SlotGrid(at("2023-06-01 12:00"), 600, 3)
    assert resample([], grid) == (0.0, 0.0, 0.0)
    assert resample([], grid, missing=250.0) == (250.0, 250.0, 250.0)
    assert value_at([], at("2023-06-01 12:00")) is None


def test_a_corrected_point_replaces_the_first_and_earlier_points_count():
    points = [
        Point(at("2023-06-01 11:00"), 50.0),  # before the grid: holds into it
        Point(at("2023-06-01 12:30"), 100.0),
        Point(at("2023-06-01 12:30"), 200.0),  # a newer forecast for the same time
    ]
    grid = SlotGrid(at("2023-06-01 12:00"), 1800, 2)
    assert resample(points, grid) == pytest.approx((50.0, 200.0))
    assert value_at(points, at("2023-06-01 12:45")) == 200.0
    assert value_at(points, at("2023-06-01 12:45"), max_age=timedelta(minutes=10)) is None
    assert value_at(points, at("2023-06-01 10:00")) is None


def test_solar_and_carbon_cannot_be_negative_but_a_meter_can():
    export = [Point(at("2023-06-01 12:00"), -3000.0)]
    check_points(SeriesKind.SITE_METER, export)
    for kind in (SeriesKind.SOLAR_MEASURED, SeriesKind.SOLAR_FORECAST, SeriesKind.CARBON):
        with pytest.raises(Invalid, match="negative"):
            check_points(kind, export)
    with pytest.raises(Invalid, match="finite"):
        Point(at("2023-06-01 12:00"), math.nan)


# --- driver profiles and needs -------------------------------------------------------------------
SITE_DEFAULT = NeedDefault(10_000.0, time(18, 0), source="site")


def past(day: int, arrive: str, leave: str, kwh: float) -> PastSession:
    """A session in June 2023 (BST: London is UTC+1), local times."""

    def local(clock: str, offset: int = 0) -> datetime:
        moment = datetime.fromisoformat(f"2023-06-{day + offset:02d} {clock}")
        return moment.replace(tzinfo=LONDON).astimezone(UTC)

    arrival = local(arrive)
    departure = local(leave)
    if departure <= arrival:
        departure = local(leave, 1)
    return PastSession(arrival, departure, kwh * 1000)


def test_the_default_need_is_learned_from_the_last_sessions():
    history = [
        past(1, "08:00", "17:30", 12),
        past(2, "09:10", "17:00", 20),
        past(3, "08:30", "18:10", 14),
        past(4, "08:05", "17:40", 0),  # delivered nothing: left out
    ]
    learned = default_need(history, SITE_DEFAULT, "Europe/London")
    assert learned == NeedDefault(14_000.0, time(17, 30), source="learned")
    # Only the last `last` sessions count.
    older = [past(d, "08:00", "07:00", 50) for d in range(10, 20)]
    recent = [past(d, "08:00", "16:00", 8) for d in range(20, 23)]
    assert default_need(older + recent, SITE_DEFAULT, LONDON, last=3).energy_wh == 8000
    assert default_need(history[:2], SITE_DEFAULT, LONDON) is SITE_DEFAULT


def test_the_typical_departure_wraps_around_midnight():
    assert typical_time_of_day([23 * 60 + 50, 10, 5]) == time(0, 5)
    assert typical_time_of_day([23 * 60 + 40, 23 * 60 + 50, 20]) == time(23, 50)
    night_shift = [
        past(d, "22:00", leave, 30) for d, leave in ((1, "06:10"), (2, "05:50"), (3, "06:00"))
    ]
    assert default_need(night_shift, SITE_DEFAULT, LONDON).departure == time(6, 0)


def test_a_departure_time_of_day_is_the_next_one_after_plug_in():
    assert departure_after(at("2023-06-01 07:00"), time(17, 30), LONDON) == at("2023-06-01 16:30")
    assert departure_after(at("2023-06-01 17:00"), time(17, 30), LONDON) == at("2023-06-02 16:30")
    # 01:30 does not exist in London on 26 March 2023: the next one is on the 27th (BST).
    assert departure_after(at("2023-03-25 23:00"), time(1, 30), LONDON) == at("2023-03-27 00:30")


def test_needs_resolve_field_by_field_in_order():
    arrival = at("2023-06-01 07:00")
    by_transaction = SessionNeed(transaction_id=7, target_soc=80, battery_wh=60_000)
    by_tag = SessionNeed(id_tag="CARD", energy_wh=5000, departure=at("2023-06-01 15:00"))
    driver = DriverProfile("Ann", PriorityClass.PREMIUM, default_departure=time(17, 0))
    defaults = [driver.need_default, SITE_DEFAULT]

    resolved = resolve_need(arrival, LONDON, [by_transaction, by_tag], defaults, soc_now=30)
    assert resolved.energy_wh == pytest.approx(30_000)  # 50 % of 60 kWh
    assert (resolved.energy_source, resolved.departure_source) == ("transaction", "id_tag")
    assert resolved.departure == at("2023-06-01 15:00")

    # SoC unknown: the tag's energy; the driver's departure when the tag's one is past.
    stale = SessionNeed(id_tag="CARD", energy_wh=5000, departure=at("2023-06-01 06:00"))
    resolved = resolve_need(arrival, LONDON, [by_transaction, stale], defaults)
    assert (resolved.energy_wh, resolved.energy_source) == (5000, "id_tag")
    assert (resolved.departure, resolved.departure_source) == (at("2023-06-01 16:00"), "driver")

    resolved = resolve_need(arrival, LONDON, [], defaults)
    assert (resolved.energy_wh, resolved.energy_source) == (10_000, "site")
    with pytest.raises(Invalid, match="site default"):
        resolve_need(arrival, LONDON, [], [driver.need_default])


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"energy_wh": 1.0}, "exactly one"),
        ({"transaction_id": 1, "id_tag": "X", "energy_wh": 1.0}, "exactly one"),
        ({"transaction_id": 1}, "energy_wh, target_soc or departure"),
        ({"transaction_id": 1, "energy_wh": 1.0, "target_soc": 50.0}, "not both"),
        ({"transaction_id": 1, "target_soc": 120.0}, "target_soc"),
        ({"transaction_id": 1, "energy_wh": -5.0}, "energy_wh"),
    ],
)
def test_invalid_needs_are_refused(fields: dict[str, object], words: str):
    with pytest.raises(Invalid, match=words):
        SessionNeed(**fields)  # type: ignore[arg-type]


def test_driver_profiles_validate_and_give_their_default():
    profile = DriverProfile("Bo", default_energy_wh=7000, id_tags=("B", "A", "B"))
    assert profile.id_tags == ("A", "B")
    assert profile.priority is PriorityClass.STANDARD
    assert profile.need_default == NeedDefault(7000, None, source="driver")
    with pytest.raises(Invalid, match="max_power_w"):
        DriverProfile("Bo", max_power_w=0)
    with pytest.raises(Invalid, match="name"):
        DriverProfile("")
