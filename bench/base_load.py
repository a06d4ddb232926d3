"""Building-load estimate under moving EVs: the old estimate (latest site meter less the
latest EV power) against `charging.base_load`, on a replayed timeline.

    .venv/bin/python bench/base_load.py

A building draws a steady 20 kW (40 kW from 1 h to 1.5 h in the second run); three EVs
change power between 6, 11 and 22 kW every 1-7 minutes (seeded), each reporting once a
minute; the site meter reports every 10 s. At each meter reading both estimates are made
from what has been reported so far (and, for the new one, when each EV's limit went up).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from ampnexus.charging.base_load import Connector, base_load_w
from ampnexus.domain.series import Point

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SECONDS = 2 * 3600
EVS = 3


def timeline(seed: int) -> list[list[tuple[int, float]]]:
    """Per EV, (second, power) from which it draws that power."""
    rng = random.Random(seed)
    evs = []
    for _ in range(EVS):
        second, steps = 0, [(0, 22_000.0)]
        while second < SECONDS:
            second += rng.randint(60, 400)
            steps.append((second, rng.choice([6_000.0, 11_000.0, 22_000.0])))
        evs.append(steps)
    return evs


def replay(step: bool, seed: int = 16) -> tuple[list[float], list[float], list[float]]:
    evs = timeline(seed)
    report_at = [random.Random(seed + n).randint(0, 59) for n in range(EVS)]

    def power(ev: int, second: int) -> float:
        return [p for t, p in evs[ev] if t <= second][-1]

    def building(second: int) -> float:
        return 40_000.0 if step and 3600 <= second < 5400 else 20_000.0

    old, new, true, meter = [], [], [], []
    for second in range(0, SECONDS, 10):
        drawn = sum(power(ev, second) for ev in range(EVS))
        meter.append(Point(T0 + timedelta(seconds=second), building(second) + drawn))
        readings = [
            [
                (T0 + timedelta(seconds=r), power(ev, r))
                for r in range(report_at[ev], second + 1, 60)
            ]
            for ev in range(EVS)
        ]
        raised = [
            [
                (T0 + timedelta(seconds=t), p)
                for (t, p), (_, before) in zip(evs[ev][1:], evs[ev], strict=False)
                if p > before and t <= second
            ]
            for ev in range(EVS)
        ]
        old.append(meter[-1].value - sum(r[-1][1] for r in readings if r))
        recent = [p for p in meter if p.timestamp >= meter[-1].timestamp - timedelta(minutes=15)]
        estimate = base_load_w(
            recent, [Connector(r, x) for r, x in zip(readings, raised, strict=True)]
        )
        new.append(estimate or 0.0)
        true.append(building(second))
    return old, new, true


def main() -> None:
    warm = 30  # the first 5 minutes: not every EV has reported yet
    old, new, true = replay(step=False)
    for name, values in (("old", old), ("new", new)):
        v = values[warm:]
        off = sum(abs(x - t) > 2_000 for x, t in zip(v, true[warm:], strict=True)) / len(v)
        low, high = min(v) / 1000, max(v) / 1000
        print(f"steady 20 kW, {name}: {low:.1f}..{high:.1f} kW, off by >2 kW in {off:.0%}")
    old, new, true = replay(step=True)
    rise = next(i for i in range(360, len(new)) if new[i] >= 39_999) * 10 - 3600
    fall = next(i for i in range(540, len(new)) if new[i] <= 20_001) * 10 - 5400
    under = sum(n < t - 1 for n, t in zip(new[warm:], true[warm:], strict=True))
    print(
        f"20 -> 40 kW at 1 h, new: counted after {rise} s; back to 20 kW: after {fall} s; "
        f"readings below the true load: {under}"
    )


if __name__ == "__main__":
    main()
