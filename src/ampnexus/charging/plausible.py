"""Physical bounds on what a charger claims, checked before the claim reaches a plan.

Readings and transactions are a charger's own word. Within these bounds a faulty or hostile
charger can mislead a plan only as far as a real charger could; outside them the planner
does not use the claim (the caller flags it for an operator):

- power: within [0, the charger's maximum x margin]. The maximum is its placement's
  `max_power_w`, else what its phases carry at MAX_AC_CURRENT_A; the margin allows for meter
  error. A negative or oversized reading would otherwise move the base load the plan derives
  from the site meter (meter minus EV power) and with it every other charger's share.
- energy register: a finite, non-negative count; during a session, not below its
  meter_start and not more than the maximum could have delivered since the start.
- start time: not in the future (beyond CLOCK_SKEW), not older than MAX_SESSION_AGE.
- finished sessions (the forecast's history): started and stopped by now, stopped after
  they started, and no more energy than the maximum could deliver in between. A driver's
  learned habits come only from sessions within the last MAX_HISTORY_AGE.

Every check is a comparison that NaN fails, so a "NaN" from a charger is out of bounds too.
"""

from __future__ import annotations

from datetime import datetime, timedelta

DEFAULT_READING_MARGIN = 1.25
# Per phase, when the operator gave no max_power_w: a Type 2 connector's usual 32 A.
MAX_AC_CURRENT_A = 32.0
# Charger clocks drift; a start or stop this far ahead of ours is still taken as now.
CLOCK_SKEW = timedelta(minutes=15)
# A car plugged in for longer than this is far rarer than a charger with a wrong clock.
MAX_SESSION_AGE = timedelta(days=7)
# A driver's habits are learned from sessions no older than this.
MAX_HISTORY_AGE = timedelta(days=366)


def physical_max_w(placed_max_w: float | None, phases: int, voltage: float) -> float:
    """The most a charger can draw: its placement's max_power_w, else its phases at 32 A."""
    return placed_max_w if placed_max_w else phases * voltage * MAX_AC_CURRENT_A


def reading_problem(
    power_w: float, register_wh: float | None, max_w: float, margin: float
) -> str | None:
    """Why a meter reading is implausible, or None when the planner may use it."""
    limit_w = max_w * margin
    if not 0.0 <= power_w <= limit_w:
        return f"power {power_w:.0f} W is outside 0..{limit_w:.0f} W"
    if register_wh is not None and not 0.0 <= register_wh < float("inf"):
        return f"energy register {register_wh} Wh is not a meter count"
    return None


def start_problem(started_at: datetime, now: datetime) -> str | None:
    """Why a running session's start time is implausible, or None."""
    if started_at > now + CLOCK_SKEW:
        return f"its start {started_at.isoformat()} is in the future"
    if started_at < now - MAX_SESSION_AGE:
        return f"its start {started_at.isoformat()} is more than {MAX_SESSION_AGE.days} days ago"
    return None


def register_problem(
    register_wh: float,
    meter_start: int,
    max_w: float,
    margin: float,
    since_start: timedelta | None,
) -> str | None:
    """Why the energy a running session's register says it delivered is implausible, or
    None. `since_start` None: the start time is unknown, only the lower bound is checked."""
    delivered_wh = register_wh - meter_start
    if delivered_wh < 0:
        return f"its energy register {register_wh:.0f} Wh is below its meter_start {meter_start} Wh"
    if since_start is not None:
        possible_wh = _possible_wh(max_w, margin, since_start)
        if delivered_wh > possible_wh:
            return (
                f"it claims {delivered_wh:.0f} Wh delivered, more than the "
                f"{possible_wh:.0f} Wh its maximum allows since it started"
            )
    return None


def finished_problem(
    started_at: datetime,
    stopped_at: datetime,
    energy_wh: float,
    max_w: float,
    margin: float,
    now: datetime,
) -> str | None:
    """Why a finished session is implausible as history for the forecast, or None."""
    if started_at > now + CLOCK_SKEW or stopped_at > now + CLOCK_SKEW:
        return f"it ran from {started_at.isoformat()} to {stopped_at.isoformat()}, in the future"
    if stopped_at < started_at:
        return f"it stopped ({stopped_at.isoformat()}) before it started"
    if energy_wh < 0:
        return "its meter_stop is below its meter_start"
    possible_wh = _possible_wh(max_w, margin, stopped_at - started_at)
    if energy_wh > possible_wh:
        return (
            f"it claims {energy_wh:.0f} Wh, more than the {possible_wh:.0f} Wh its maximum allows"
        )
    return None


def in_recent_past(arrival: datetime, departure: datetime, now: datetime) -> bool:
    """Whether a finished session lies between MAX_HISTORY_AGE ago and now."""
    return now - MAX_HISTORY_AGE <= arrival <= departure <= now + CLOCK_SKEW


def _possible_wh(max_w: float, margin: float, duration: timedelta) -> float:
    """The most a charger can deliver in `duration`, give or take a clock's skew."""
    return max_w * margin * (duration + CLOCK_SKEW).total_seconds() / 3600
