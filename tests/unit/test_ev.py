"""The simulator's EV model: acceptance, taper near full, energy accounting, departure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ampnexus.sim.ev import EV, TAPER_FLOOR


def test_below_the_taper_it_takes_its_full_power() -> None:
    ev = EV(capacity_kwh=60, soc=50, max_power_w=11_000)
    assert ev.acceptance_w() == 11_000
    assert ev.draw_w(22_000) == 11_000  # never more than it accepts
    assert ev.draw_w(4_140) == 4_140  # never more than it is offered


def test_acceptance_tapers_linearly_from_80_percent_to_the_floor_at_full() -> None:
    def acceptance(soc: float) -> float:
        return EV(max_power_w=10_000, soc=soc).acceptance_w()

    assert acceptance(80) == pytest.approx(10_000)
    assert acceptance(90) == pytest.approx(10_000 * (TAPER_FLOOR + (1 - TAPER_FLOOR) / 2))
    assert acceptance(99.99) == pytest.approx(10_000 * TAPER_FLOOR, rel=1e-2)
    assert acceptance(85) - acceptance(90) == pytest.approx(acceptance(90) - acceptance(95))
    assert acceptance(100) == 0


def test_charging_adds_exactly_the_energy_drawn_to_the_battery() -> None:
    ev = EV(capacity_kwh=50, soc=20, max_power_w=11_000)
    power = ev.charge(7_000, 3600)  # one hour at 7 kW: 7 kWh = 14 % of 50 kWh
    assert power == 7_000
    assert ev.soc == pytest.approx(34.0)


def test_the_last_step_stops_exactly_at_full_and_draws_only_what_fits() -> None:
    ev = EV(capacity_kwh=10, soc=99.5, max_power_w=11_000)  # 50 Wh of room
    power = ev.charge(11_000, 3600)
    assert power == pytest.approx(50.0)  # 50 Wh spread over the hour
    assert ev.soc == 100.0 and ev.full
    assert ev.charge(11_000, 60) == 0.0
    assert ev.acceptance_w() == 0.0


def test_a_full_charge_from_empty_takes_longer_than_at_constant_power() -> None:
    ev = EV(capacity_kwh=40, soc=0, max_power_w=10_000)
    seconds, energy_wh = 0, 0.0
    while not ev.full:
        energy_wh += ev.charge(22_000, 10) * 10 / 3600
        seconds += 10
    assert energy_wh == pytest.approx(40_000, rel=1e-6)  # energy is conserved
    assert seconds > 4 * 3600  # 4 h at 10 kW, plus the taper


def test_nothing_offered_nothing_drawn() -> None:
    ev = EV(soc=40)
    assert ev.charge(0, 600) == 0.0
    assert ev.soc == 40
    assert ev.charge(-500, 600) == 0.0


def test_departure() -> None:
    leaving = datetime(2025, 3, 1, 17, 30, tzinfo=UTC)
    ev = EV(departure=leaving)
    assert not ev.wants_to_leave(leaving - timedelta(seconds=1))
    assert ev.wants_to_leave(leaving)
    assert not EV().wants_to_leave(leaving)  # no departure: it stays


@pytest.mark.parametrize(
    "arguments",
    [{"capacity_kwh": 0}, {"soc": 101}, {"soc": -1}, {"max_power_w": -1}, {"taper_from_soc": 100}],
)
def test_impossible_evs_are_refused(arguments: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        EV(**arguments)  # type: ignore[arg-type]
