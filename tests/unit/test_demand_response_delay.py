"""No regulation-mode random delay while a site provides demand response (ADR 0012): which
events exempt which times, and what that leaves of a session's delays (pure, and ModeRules
with a fixed draw)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ampnexus.domain.charging_mode import (
    ChargingMode,
    EffectiveMode,
    ModeSource,
    RegulationSettings,
    parse_window,
)
from ampnexus.domain.demand_response import (
    DelaySpan,
    Event,
    EventStatus,
    Interval,
    OptState,
    Program,
    delay_exempt,
    exempt_at,
)
from ampnexus.domain.mode_enforcement import DelayDraw, blocked_intervals
from ampnexus.domain.transaction import Transaction
from ampnexus.services.smart_charging.modes import ModeRules
from tests.unit.test_waiting_reasons import site_plan

MONDAY = datetime(2026, 1, 12, tzinfo=UTC)  # Europe/London in January: local time is UTC
NOON = MONDAY + timedelta(hours=12)
HOUR = timedelta(hours=1)


def event(name: str = "SIMPLE", kind: str = "level", **changes: Any) -> Event:
    base = Event(
        program_id="P1",
        event_id="E1",
        modification_number=0,
        status=EventStatus.ACTIVE,
        signal_name=name,
        signal_type=kind,
        intervals=(Interval(NOON, HOUR, 2), Interval(NOON + HOUR, HOUR, 1)),
        site_ids=("S1",),
        opt=OptState.IN,
        opt_reason="participating",
        received_at=NOON,
    )
    return replace(base, **changes)


def test_an_event_directing_the_ev_load_exempts_each_of_its_intervals() -> None:
    for name, kind in (("SIMPLE", "level"), ("LOAD_DISPATCH", "setpoint")):
        spans = delay_exempt([event(name, kind)], "S1")
        assert spans == ((NOON, NOON + HOUR, "E1"), (NOON + HOUR, NOON + 2 * HOUR, "E1"))


def test_price_opted_out_cancelled_and_other_sites_events_exempt_nothing() -> None:
    assert delay_exempt([event("ELECTRICITY_PRICE", "price")], "S1") == ()
    assert delay_exempt([event(opt=OptState.OUT)], "S1") == ()
    assert delay_exempt([event(status=EventStatus.CANCELLED)], "S1") == ()
    assert delay_exempt([event()], "S2") == ()


def test_the_newest_modification_decides() -> None:
    cancelled = event(status=EventStatus.CANCELLED, modification_number=1)
    assert delay_exempt([cancelled, event()], "S1") == ()


def test_the_span_ends_where_the_event_does() -> None:
    spans = delay_exempt([event()], "S1")
    assert exempt_at(spans, NOON) == "E1"
    assert exempt_at(spans, NOON + 2 * HOUR - timedelta(seconds=1)) == "E1"
    assert exempt_at(spans, NOON + 2 * HOUR) is None  # the rise back at its end is delayed
    assert exempt_at(spans, NOON - timedelta(seconds=1)) is None


REGULATION = EffectiveMode(
    "CP-1",
    ChargingMode.REGULATION_COMPLIANCE,
    RegulationSettings(
        peak_windows=(parse_window(["mon"], "11:00", "12:30"),), random_delay_max_s=1800
    ),
    ModeSource.CHARGER,
)


class Draw(DelayDraw):
    """Every delay 600 s: what is exempt shows."""

    def seconds(self, maximum: int, *event: str) -> int:
        return 600


def test_a_window_ending_in_demand_response_has_no_delay_after_it() -> None:
    end = MONDAY + timedelta(hours=12, minutes=30)
    plain = blocked_intervals(REGULATION, MONDAY, "Europe/London", Draw())
    assert plain[0] == (MONDAY + timedelta(hours=11), end + timedelta(seconds=600))
    exempt = blocked_intervals(
        REGULATION, MONDAY, "Europe/London", Draw(), exempt=[(NOON, NOON + HOUR)]
    )
    assert exempt[0] == (MONDAY + timedelta(hours=11), end)


class Spans:
    def __init__(self, spans: tuple[DelaySpan, ...]) -> None:
        self.spans = spans

    def delay_exempt(self, site_id: str) -> tuple[DelaySpan, ...]:
        return self.spans if site_id == "S1" else ()


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


def rules(at: datetime, spans: tuple[DelaySpan, ...]) -> ModeRules:
    return ModeRules(
        modes=None,
        commands=None,  # type: ignore[arg-type]
        presence=None,  # type: ignore[arg-type]
        clock=Clock(at),
        keys=None,  # type: ignore[arg-type]
        delays=Draw(),
        demand_response=Spans(spans),  # type: ignore[arg-type]
    )


def test_a_session_starting_in_demand_response_has_no_start_delay() -> None:
    at = NOON + timedelta(hours=2)  # after the window: only the delays are left
    spans = delay_exempt([event(intervals=(Interval(at - HOUR, 2 * HOUR, 2),))], "S1")
    started = Transaction(7, "CP-1", 1, "TAG", 0, at)
    rule = rules(at, spans).session_rule(started, REGULATION, "Europe/London", at, "S1")
    assert rule.reason_at(at) is None
    assert rule.demand_response == ("E1",)
    plain = rules(at, ()).session_rule(started, REGULATION, "Europe/London", at, "S1")
    assert plain.reason_at(at) == "random_delay"
    assert plain.demand_response == ()


def test_rises_inside_demand_response_go_at_once_and_the_one_at_its_end_waits() -> None:
    at = NOON + timedelta(hours=2)
    end = at + HOUR
    spans = delay_exempt([event(intervals=(Interval(at - HOUR, 2 * HOUR, 2),))], "S1")
    started = Transaction(7, "CP-1", 1, "TAG", 0, at - 2 * HOUR)
    rule = rules(at, spans).session_rule(started, REGULATION, "Europe/London", at, "S1")
    assert rule.rise_until is not None
    inside = at + timedelta(minutes=15)
    assert rule.rise_until(inside) == inside
    assert rule.rise_until(end) == end + timedelta(seconds=600)


def test_the_fail_safe_holds_no_start_delay_while_the_site_provides_demand_response() -> None:
    spans = delay_exempt([event()], "S1")
    assert rules(NOON + timedelta(minutes=5), spans).start_delay_s(REGULATION, "S1") == 0
    assert rules(NOON + 3 * HOUR, spans).start_delay_s(REGULATION, "S1") == 600
    assert rules(NOON + timedelta(minutes=5), spans).start_delay_s(REGULATION, "S2") == 600


def test_a_site_that_opted_out_alone_is_shaped_by_nothing() -> None:
    both = event(site_ids=("S1", "S2"), opted_out=(("S2", "notParticipating"),))
    assert both.participating == ("S1",)
    assert (both.shapes("S1"), both.shapes("S2")) == (True, False)
    assert both.site_opt("S2") == (OptState.OUT, "notParticipating")
    assert both.site_opt("S1") == (OptState.IN, "participating")
    assert delay_exempt([both], "S2") == ()
    assert delay_exempt([both], "S1") != ()


def test_a_program_opts_out_only_sites_it_covers() -> None:
    with pytest.raises(ValueError, match="opt_out_site_ids"):
        Program("P1", "http://vtn", "ven", ("S1",), opt_out_site_ids=("S2",))
    kept = Program("P1", "http://vtn", "ven", ("S1", "S2"), opt_out_site_ids=("S2",))
    assert kept.opt_out_site_ids == ("S2",)


def test_a_session_starting_after_the_event_under_its_fail_safe_still_waits() -> None:
    """The fail-safe held no delay for the event; a car plugging in after it ended, before
    the next replan re-sent the fail-safe, is still delayed by its plan."""
    spans = delay_exempt([event()], "S1")
    ruled = rules(NOON + timedelta(minutes=5), spans)
    assert ruled.start_delay_s(REGULATION, "S1") == 0
    ruled.fail_safe_accepted("CP-1", 0)
    after = NOON + 2 * HOUR + timedelta(minutes=1)
    ruled.started(9, "CP-1")
    late = Transaction(9, "CP-1", 1, "TAG", 0, after)
    rule = ruled.session_rule(late, REGULATION, "Europe/London", after, "S1")
    assert rule.reason_at(after) == "random_delay"


def test_a_session_held_back_by_an_events_cap_waits_for_demand_response() -> None:
    held = site_plan((0.0, 7_000.0), binding="site power")
    assert held.waiting_reason("s1") == "limit_reached"
    shaped = replace(held, demand_response=(("E1",), ()))
    assert shaped.waiting_reason("s1") == "demand_response"
