"""The prior of a site without history: recent arrivals go on at a halving rate, at most one EV
per free charger, spread over the free chargers' circuits and phases."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from ampnexus.charging.model import Session, SlotGrid
from ampnexus.charging.prior import DECAY, HOURS_AHEAD, Charger, prior_sessions

NOW = datetime(2025, 1, 6, 9, tzinfo=UTC)
GRID = SlotGrid(NOW, 900, 48)
RATES = [DECAY**k for k in range(HOURS_AHEAD)]  # EVs per hour ahead, for one EV an hour now


def plugged(sid: str, hours_ago: float, kwh: float = 12.0, **fields: object) -> Session:
    arrival = NOW - timedelta(hours=hours_ago)
    session = Session(sid, "F1", arrival, arrival + timedelta(hours=8), kwh * 1000, 7400)
    return replace(session, phases=(1,), **fields)


def chargers(count: int, circuit: str = "F1", phases: tuple[int, ...] = (1,)) -> list[Charger]:
    return [Charger(circuit, 7400, phases)] * count


def test_nothing_plugged_in_expects_nothing():
    assert prior_sessions(chargers(10), [], GRID) == ()


def test_recent_arrivals_go_on_at_a_halving_rate():
    # Three EVs in the last three hours: one an hour, halving each hour ahead.
    present = [plugged("a", 0.5), plugged("b", 1.5), plugged("c", 2.5), plugged("old", 5, 40)]
    expected = prior_sessions(chargers(20), present, GRID)
    assert all(s.expected for s in expected)
    assert [s.energy_wh for s in expected] == pytest.approx([12_000 * r for r in RATES])
    assert [s.max_power_w for s in expected] == pytest.approx([7400 * r for r in RATES])
    first = NOW + timedelta(minutes=15)  # from the next slot, an hour apart
    assert [s.arrival for s in expected] == [first + timedelta(hours=k) for k in range(6)]
    # They stay as long as the EVs there: 8 hours.
    assert {s.departure - s.arrival for s in expected} == {timedelta(hours=8)}


def test_never_more_evs_than_free_chargers():
    present = [plugged(f"ev{i}", 0.5) for i in range(6)]  # six an hour... but 2 chargers free
    expected = prior_sessions(chargers(8), present, GRID)
    assert sum(s.energy_wh for s in expected) == pytest.approx(2 * 12_000)


def test_a_full_site_expects_nothing():
    assert prior_sessions(chargers(2), [plugged("a", 0.5), plugged("b", 1)], GRID) == ()


def test_the_evs_of_an_hour_spread_over_the_free_chargers():
    site = [*chargers(2, "F1", (1,)), *chargers(4, "F2", (2,)), *chargers(1, "F2", (3,))]
    expected = prior_sessions(site, [plugged("a", 1)], GRID)  # takes one F1 charger
    first_hour = [s for s in expected if s.arrival == NOW + timedelta(minutes=15)]
    share = {(s.circuit_id, s.phases): s.energy_wh / 12_000 for s in first_hour}
    rate = 1 / 3  # one EV in the last three hours
    assert share == pytest.approx(
        {("F1", (1,)): rate / 6, ("F2", (2,)): rate * 4 / 6, ("F2", (3,)): rate / 6}
    )


def test_forecast_and_uncontrollable_sessions_are_not_arrivals():
    others = [plugged("x", 0.5, expected=True), plugged("y", 0.5, uncontrollable=True)]
    assert prior_sessions(chargers(10), [*others, plugged("old", 5)], GRID) == ()
