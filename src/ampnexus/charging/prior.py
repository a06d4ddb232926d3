"""Expected sessions for a site without history (ADR 0007): EVs keep coming as they just did,
ever fewer, at most one per free charger.

A site with no finished sessions to forecast from (a new site, or forecasts turned off) still
knows its own size (its chargers, which of them are busy) and what is plugged in now: when
each EV came, what it needs, how long it stays. The prior takes the EVs that arrived in the
last `LOOKBACK_HOURS` as the arrival rate, and expects that rate to go on for the hours ahead,
shrinking by `DECAY` each hour (a rush ends; nothing says when), at most one EV for each free
charger in all. An expected EV needs what the recent arrivals still need on average and stays
as long as the EVs plugged in now stay on average. The EVs of one hour are spread over the
free chargers' circuits and phases, one expected session per (hour, circuit, phases), so the
LP grows by a few columns per circuit and hour, not per charger. Like a forecast's sessions,
these keep room for EVs still to come at a low weight (`model.EXPECTED_WEIGHT`), never taking
it from an EV that is there, and they turn the deferral hedge on (ADR 0005).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from ampnexus.charging.model import Session, SlotGrid

# Fitted on the five benchmark days (bench/planner.py DAYS) only; see ADR 0007.
LOOKBACK_HOURS = 3.0  # arrivals counted to estimate the rate
DECAY = 0.5  # of the rate left after each hour ahead
HOURS_AHEAD = 6  # hours of arrivals expected (the rate is then down to 0.5^5, 3%)


@dataclass(frozen=True, slots=True)
class Charger:
    """One connector of the site, where an EV may plug in."""

    circuit_id: str
    max_power_w: float
    phases: tuple[int, ...] = (1, 2, 3)


def prior_sessions(
    chargers: Iterable[Charger],
    present: Sequence[Session],
    grid: SlotGrid,
    *,
    lookback_hours: float = LOOKBACK_HOURS,
    decay: float = DECAY,
    hours_ahead: int = HOURS_AHEAD,
) -> tuple[Session, ...]:
    """Expected sessions arriving from the grid's second slot on (`present`: what is plugged
    in now; expected and uncontrollable sessions among them are ignored)."""
    plugged = [s for s in present if not (s.expected or s.uncontrollable)]
    if not plugged or grid.count < 2:
        return ()
    now = grid.start
    recent = [s for s in plugged if now - s.arrival <= timedelta(hours=lookback_hours)]
    free = _free(chargers, plugged)
    free_count = sum(free.values())
    if not recent or free_count == 0:
        return ()
    rate = len(recent) / lookback_hours  # EVs per hour
    counts = [rate * decay**k for k in range(hours_ahead)]
    counts = [c * min(1.0, free_count / sum(counts)) for c in counts]
    need_wh = sum(s.energy_wh for s in recent) / len(recent)
    stay = sum((s.departure - s.arrival for s in plugged), timedelta()) / len(plugged)
    first = grid.slot_start(1)
    groups = sorted(free.items(), key=lambda item: _key(item[0]))
    return tuple(
        Session(
            id=f"prior-{k}-{charger.circuit_id}-{''.join(map(str, charger.phases))}-"
            f"{charger.max_power_w:.0f}",
            circuit_id=charger.circuit_id,
            arrival=first + timedelta(hours=k),
            departure=first + timedelta(hours=k) + stay,
            energy_wh=count * n / free_count * need_wh,
            max_power_w=count * n / free_count * charger.max_power_w,
            phases=charger.phases,
            expected=True,
        )
        for k, count in enumerate(counts)
        for charger, n in groups
        if n > 0 and count > 0 and need_wh > 0
    )


def _free(chargers: Iterable[Charger], plugged: Sequence[Session]) -> Counter[Charger]:
    """The chargers left once every plugged-in session has taken one on its circuit, one on
    its phases if there is one."""
    free = Counter(chargers)
    for session in plugged:
        on_circuit = [c for c in free if free[c] > 0 and c.circuit_id == session.circuit_id]
        same = [c for c in on_circuit if c.phases == session.phases] or on_circuit
        if same:
            free[max(same, key=_key)] -= 1
    return +free


def _key(charger: Charger) -> tuple[str, tuple[int, ...], float]:
    return charger.circuit_id, charger.phases, charger.max_power_w
