"""The test chargers' reading of OCPP 1.6 §3.13 (tests/support/held_limits.py), checked on
the specification's own examples and rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.held_limits import Holder

T0 = datetime(2025, 3, 3, 0, 0, tzinfo=UTC)  # a Monday, midnight
H = timedelta(hours=1)


def profile(
    id: int,
    purpose: str,
    periods: list[tuple[int, float]] | list[tuple[int, float, int]],
    *,
    stack: int = 0,
    kind: str = "Absolute",
    unit: str = "W",
    start: datetime | None = T0,
    **extra: Any,
) -> dict[str, Any]:
    """A csChargingProfiles payload as the `ocpp` package hands it over (snake_case)."""
    schedule: dict[str, Any] = {
        "charging_rate_unit": unit,
        "charging_schedule_period": [
            {"start_period": p[0], "limit": p[1], **({"number_phases": p[2]} if len(p) > 2 else {})}
            for p in periods
        ],
    }
    if start is not None:
        schedule["start_schedule"] = start.isoformat()
    for key in ("duration",):
        if key in extra:
            schedule[key] = extra.pop(key)
    return {
        "charging_profile_id": id,
        "stack_level": stack,
        "charging_profile_purpose": purpose,
        "charging_profile_kind": kind,
        "charging_schedule": schedule,
        **extra,
    }


@pytest.fixture
def holder() -> Holder:
    """A two-connector 22 kW charger (32 A on three phases at 230 V)."""
    return Holder(connectors=2, connector_max_w=22_080.0)


def test_no_profile_leaves_the_connector_at_its_maximum(holder: Holder) -> None:
    assert holder.connector_limit_w(1, T0) == 22_080.0
    assert holder.change_instants(T0, T0 + 24 * H) == set()


def test_the_spec_example_daily_profile_limits_6_kw_from_8_to_20(holder: Holder) -> None:
    """§3.13.7: a Recurring Daily TxDefaultProfile, 11 kW, 6 kW from 08:00 to 20:00."""
    daily = profile(
        100,
        "TxDefaultProfile",
        [(0, 11000, 3), (28800, 6000, 3), (72000, 11000, 3)],
        kind="Recurring",
        recurrency_kind="Daily",
        duration=86400,
        start=datetime(2013, 1, 1, tzinfo=UTC),
    )
    assert holder.set_profile(0, daily, T0 - H) == "Accepted"
    for hour, expected in ((0, 11000), (7.99, 11000), (8, 6000), (19.5, 6000), (20, 11000)):
        at = T0 + timedelta(hours=hour)
        assert holder.connector_limit_w(2, at) == expected, hour
    instants = holder.change_instants(T0, T0 + 48 * H)
    assert instants == {T0 + h * H for h in (8, 20, 24, 32, 44)}


def test_a_weekly_recurrence_restarts_on_the_same_weekday(holder: Holder) -> None:
    weekly = profile(
        1,
        "TxDefaultProfile",
        [(0, 4000), (86400, 9000)],
        kind="Recurring",
        recurrency_kind="Weekly",
        start=T0 - 14 * 24 * H,  # a Monday, two weeks back
    )
    holder.set_profile(0, weekly, T0 - 20 * 24 * H)
    assert holder.connector_limit_w(1, T0 + 2 * H) == 4000  # Monday
    assert holder.connector_limit_w(1, T0 + 30 * H) == 9000  # Tuesday
    assert holder.connector_limit_w(1, T0 + 7 * 24 * H) == 4000  # next Monday


def test_a_higher_stack_level_prevails_and_falls_back_when_its_duration_ends(
    holder: Holder,
) -> None:
    """§3.13.2 and the §5.16 notes: after the duration, the lower stack level again."""
    holder.set_profile(0, profile(1, "TxDefaultProfile", [(0, 10000)]), T0)
    holder.set_profile(0, profile(2, "TxDefaultProfile", [(0, 3000)], stack=1, duration=3600), T0)
    assert holder.connector_limit_w(1, T0 + H / 2) == 3000
    assert holder.connector_limit_w(1, T0 + H) == 10000
    assert holder.change_instants(T0, T0 + 2 * H) == {T0 + H}


def test_the_last_period_holds_until_the_duration_ends(holder: Holder) -> None:
    """§5.16 notes: periods past the duration are not executed; the last one lasts until it."""
    holder.set_profile(
        0,
        profile(1, "TxDefaultProfile", [(0, 5000), (1800, 7000), (7200, 1000)], duration=3600),
        T0,
    )
    assert holder.connector_limit_w(1, T0 + 50 * timedelta(minutes=1)) == 7000
    assert holder.connector_limit_w(1, T0 + 2.5 * H) == 22_080.0  # never 1000: cut at 1 h


def test_same_id_or_same_stack_level_and_purpose_replaces(holder: Holder) -> None:
    holder.set_profile(0, profile(1, "TxDefaultProfile", [(0, 10000)]), T0)
    holder.set_profile(0, profile(1, "TxDefaultProfile", [(0, 9000)], stack=3), T0)  # same id
    assert [(p.id, p.stack_level) for p in holder.profiles] == [(1, 3)]
    holder.set_profile(0, profile(2, "TxDefaultProfile", [(0, 8000)], stack=3), T0)  # same slot
    assert [p.id for p in holder.profiles] == [2]
    assert holder.connector_limit_w(1, T0) == 8000


def test_a_connector_tx_default_replaces_the_connector_0_one_for_that_connector_only(
    holder: Holder,
) -> None:
    """§3.13.1."""
    holder.set_profile(0, profile(1, "TxDefaultProfile", [(0, 10000)]), T0)
    holder.set_profile(2, profile(2, "TxDefaultProfile", [(0, 4000)]), T0)
    assert holder.connector_limit_w(1, T0) == 10000
    assert holder.connector_limit_w(2, T0) == 4000


def test_a_tx_profile_needs_a_transaction_on_its_connector_and_ends_with_it(
    holder: Holder,
) -> None:
    """§3.13.1: refused without a transaction; §7.10: it ceases with the transaction."""
    tx = profile(5, "TxProfile", [(0, 7000)], stack=1)
    assert holder.set_profile(1, tx, T0) == "Rejected"
    assert holder.set_profile(0, tx, T0) == "Rejected"
    holder.start_transaction(1, 42, T0)
    assert holder.set_profile(1, {**tx, "transaction_id": 41}, T0) == "Rejected"
    assert holder.set_profile(1, {**tx, "transaction_id": 42}, T0) == "Accepted"
    holder.set_profile(0, profile(1, "TxDefaultProfile", [(0, 3000)]), T0)
    assert holder.connector_limit_w(1, T0) == 7000  # overrules the TxDefaultProfile
    assert holder.connector_limit_w(2, T0) == 3000
    holder.stop_transaction(1)
    assert [p.purpose for p in holder.profiles] == ["TxDefaultProfile"]
    holder.start_transaction(1, 43, T0 + H)
    assert holder.connector_limit_w(1, T0 + H) == 3000


def test_charge_point_max_only_on_connector_0_and_caps_all_connectors_together(
    holder: Holder,
) -> None:
    """§3.13.1 and §3.13.3."""
    cap = profile(9, "ChargePointMaxProfile", [(0, 16000)])
    assert holder.set_profile(1, cap, T0) == "Rejected"
    assert holder.set_profile(0, cap, T0) == "Accepted"
    holder.set_profile(0, profile(1, "TxDefaultProfile", [(0, 11000)]), T0)
    assert holder.connector_limit_w(1, T0) == 11000
    assert holder.charger_limit_w([1, 2], T0) == 16000


def test_amps_are_per_phase_on_the_phases_used() -> None:
    """§7.12: W = A x V x numberPhases (3 when absent); errata 3.34: never more phases than
    the connector uses."""
    three = Holder(connectors=1, connector_max_w=22_080.0)
    three.set_profile(0, profile(1, "TxDefaultProfile", [(0, 16)], unit="A"), T0)
    assert three.connector_limit_w(1, T0) == 16 * 230 * 3
    three.set_profile(0, profile(1, "TxDefaultProfile", [(0, 16, 1)], unit="A"), T0)
    assert three.connector_limit_w(1, T0) == 16 * 230
    single = Holder(connectors=1, connector_max_w=7_360.0, phases=1)
    single.set_profile(0, profile(1, "TxDefaultProfile", [(0, 16, 3)], unit="A"), T0)
    assert single.connector_limit_w(1, T0) == 16 * 230


def test_valid_from_and_valid_to_bound_a_profile(holder: Holder) -> None:
    """§7.8, and §3.13.2: a replacement valid later leaves default behaviour until then."""
    holder.set_profile(
        0,
        profile(
            1,
            "TxDefaultProfile",
            [(0, 5000)],
            valid_from=(T0 + H).isoformat(),
            valid_to=(T0 + 3 * H).isoformat(),
        ),
        T0,
    )
    assert holder.connector_limit_w(1, T0) == 22_080.0
    assert holder.connector_limit_w(1, T0 + 2 * H) == 5000
    assert holder.connector_limit_w(1, T0 + 3 * H) == 22_080.0
    assert holder.change_instants(T0, T0 + 4 * H) == {T0 + H, T0 + 3 * H}


def test_a_relative_profile_runs_from_the_start_of_its_transaction(holder: Holder) -> None:
    holder.start_transaction(1, 7, T0 + 10 * timedelta(minutes=1))
    relative = profile(3, "TxProfile", [(0, 2000), (600, 8000)], kind="Relative", start=None)
    holder.set_profile(1, relative, T0 + 12 * timedelta(minutes=1))
    assert holder.connector_limit_w(1, T0 + 15 * timedelta(minutes=1)) == 2000
    assert holder.connector_limit_w(1, T0 + 20 * timedelta(minutes=1)) == 8000


@pytest.mark.parametrize("unlimited, expected", [(True, 22_080.0), (False, 3000.0)])
def test_when_the_tx_profile_runs_out_the_reading_decides_what_is_drawn(
    unlimited: bool, expected: float
) -> None:
    holder = Holder(connectors=1, connector_max_w=22_080.0, tx_end_unlimited=unlimited)
    holder.set_profile(0, profile(1, "TxDefaultProfile", [(0, 3000)]), T0)
    holder.start_transaction(1, 1, T0)
    holder.set_profile(1, profile(2, "TxProfile", [(0, 5000)], stack=1, duration=3600), T0)
    assert holder.connector_limit_w(1, T0) == 5000
    assert holder.connector_limit_w(1, T0 + 2 * H) == expected


def test_clearing_by_id_ignores_the_other_fields_and_fields_match_together(
    holder: Holder,
) -> None:
    """Errata 3.25/3.26."""
    holder.set_profile(0, profile(1, "TxDefaultProfile", [(0, 10000)]), T0)
    holder.set_profile(1, profile(2, "TxDefaultProfile", [(0, 9000)], stack=1), T0)
    holder.set_profile(0, profile(3, "ChargePointMaxProfile", [(0, 30000)], stack=1), T0)
    assert holder.clear_profiles({"id": 1, "connector_id": 5}) == "Accepted"
    assert holder.clear_profiles({"connector_id": 0, "stack_level": 0}) == "Unknown"
    assert holder.clear_profiles(
        {"charging_profile_purpose": "TxDefaultProfile", "stack_level": 1}
    ) == ("Accepted")
    assert [p.id for p in holder.profiles] == [3]
    assert holder.clear_profiles({}) == "Accepted"
    assert holder.profiles == []
