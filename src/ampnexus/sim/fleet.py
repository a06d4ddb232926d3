"""Many simulated charge points at once, named PREFIX-0001, PREFIX-0002, ..."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from ampnexus.sim.charge_point import SimChargePoint
from ampnexus.sim.charger import ChargerSpec, catalogue_spec
from ampnexus.sim.clock import SimClock
from ampnexus.sim.script import check_script, load_script, run_script

log = logging.getLogger(__name__)


def fleet_ids(count: int, prefix: str = "SIM") -> list[str]:
    return [f"{prefix}-{n:04d}" for n in range(1, count + 1)]


def fleet_specs(
    count: int, prefix: str = "SIM", password: str | None = None, ids: list[str] | None = None
) -> list[ChargerSpec]:
    """A mixed fleet from the catalogue: 7.4 kW single-phase, 11 kW and 22 kW three-phase;
    named `ids`, or PREFIX-0001..."""
    names = ids or fleet_ids(count, prefix)
    return [catalogue_spec(cp_id, n, password) for n, cp_id in enumerate(names)]


class Fleet(Mapping[str, SimChargePoint]):
    def __init__(
        self, url: str, specs: list[ChargerSpec], *, clock: SimClock | None = None, **options: Any
    ) -> None:
        self.clock = clock or SimClock()
        self._charge_points = {
            spec.id: SimChargePoint(spec, url, clock=self.clock, **options) for spec in specs
        }

    def __getitem__(self, charge_point_id: str) -> SimChargePoint:
        return self._charge_points[charge_point_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._charge_points)

    def __len__(self) -> int:
        return len(self._charge_points)

    async def start(self) -> None:
        for cp in self._charge_points.values():
            await cp.start()

    async def stop(self) -> None:
        await asyncio.gather(*(cp.stop() for cp in self._charge_points.values()))

    async def __aenter__(self) -> Fleet:
        await self.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def accepted(self) -> int:
        return sum(cp.registration == "Accepted" for cp in self._charge_points.values())


async def simulate(
    url: str,
    count: int,
    *,
    id_prefix: str = "SIM",
    ids: list[str] | None = None,
    password: str | None = None,
    script: Path | None = None,
    speed: float = 1.0,
) -> None:
    """`ampnexus simulate`: run the fleet (and its script) until SIGINT or SIGTERM.
    Raises ValueError (or OSError) for a script it cannot run, before connecting."""
    specs = fleet_specs(count, id_prefix, password, ids)
    events = load_script(script) if script is not None else []
    check_script(events, (spec.id for spec in specs))
    clock = SimClock(speed)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Fleet(url, specs, clock=clock) as fleet:
        print(f"simulating {count} charge points ({specs[0].id}...) against {url}", flush=True)
        scripted = asyncio.create_task(run_script(events, fleet, clock))
        scripted.add_done_callback(_report_script_failure)
        await stop.wait()
        scripted.cancel()
        await asyncio.gather(scripted, return_exceptions=True)
        print(f"{fleet.accepted()} of {count} charge points were accepted; stopping", flush=True)


def _report_script_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the script stopped: %s", task.exception())
