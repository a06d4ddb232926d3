"""Rises of a connector's limit held back by a random delay each (regulation mode: the UK
Smart Charge Points Regulations delay every start and change of rate). Only rises wait:
a fall keeps the site within its limits and goes at once.

Each rise's delay ends at a moment the caller draws from the rise's instant (`until_of`),
so the same rise gets the same end on every replan and a replan cannot put it off again.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from datetime import datetime

from ampnexus.charging.compiler import ALWAYS, Steps, steps_at

# A rise smaller than this (W) is rounding, not a change of rate.
RISE_TOLERANCE_W = 1.0


def rise_holds(
    new: Steps,
    held_now: float,
    since: datetime,
    until_of: Callable[[datetime], datetime],
    exempt: Collection[datetime] = (),
) -> list[tuple[datetime, datetime, float]]:
    """Each rise in `new` from `since` on (at `since`: above `held_now`, what the connector
    holds now) as (start, end, cap): the limit before the rise holds until `until_of(start)`.
    `exempt`: instants whose rise has had its delay already (the end of a peak window's or
    a session start's)."""
    holds = []
    before = held_now
    instants = [since] + [moment for moment, _ in new if moment > since]
    for moment in instants:
        value = steps_at(new, moment)
        if value > before + RISE_TOLERANCE_W and moment not in exempt:
            end = until_of(moment)
            if end > moment:
                holds.append((moment, end, before))
        before = value
    return holds


def hold_steps(holds: list[tuple[datetime, datetime, float]]) -> Steps:
    """The holds as one cap over time: the lowest of those in force, no limit elsewhere."""
    instants = sorted({ALWAYS} | {start for start, _, _ in holds} | {end for _, end, _ in holds})
    steps: list[tuple[datetime, float]] = []
    for moment in instants:
        cap = min((c for start, end, c in holds if start <= moment < end), default=math.inf)
        if not steps or steps[-1][1] != cap:
            steps.append((moment, cap))
    return tuple(steps)
