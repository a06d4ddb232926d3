"""Site safety, the last resort (ADR 0003): when even planning the chargers that refuse
profiles at what they may hold cannot keep the site within a limit (they and the building
exceed it with every other charger at 0), their sessions are stopped, largest first, until
it fits."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from ampnexus.charging.model import Circuit, PlanRequest
from ampnexus.domain.alert import AlertKey, AlertKind, Severity
from ampnexus.domain.commands import Acceptance
from ampnexus.domain.errors import DomainError
from ampnexus.domain.time import Clock
from ampnexus.services.planning_ports import ChargerPresence
from ampnexus.services.ports import ChargerCommands
from ampnexus.services.smart_charging.background import Background, logged_failure
from ampnexus.services.smart_charging.dispatch import Dispatcher
from ampnexus.services.smart_charging.health import ChargerHealth
from ampnexus.services.smart_charging.model import Draw, SitePlan, describe, log
from ampnexus.services.smart_charging.places import Places

# A session asked to stop counts as drawing nothing for this long: its StopTransaction.req
# follows the answer at once (OCPP 1.6 §5.11); past it, it counts again and is asked again.
STOP_WAIT_S = 60.0


class SiteSafety:
    def __init__(
        self,
        *,
        commands: ChargerCommands,
        presence: ChargerPresence,
        clock: Clock,
        background: Background,
        places: Places,
        health: ChargerHealth,
        dispatcher: Dispatcher,
    ) -> None:
        self._chargers = commands
        self._presence = presence
        self._clock = clock
        self._background = background
        self._alerts = background.alerts
        self._places = places
        self._health = health
        self._dispatcher = dispatcher
        self._stopping: dict[int, float] = {}  # transaction -> when asked to stop (monotonic)

    def stop_if_over(self, site_plan: SitePlan) -> asyncio.Task[Any] | None:
        """When the building and the sessions no profile can lower exceed the site's or a
        circuit's limit even with every other charger at 0, stop the sessions of chargers
        that refuse profiles, largest first, until it fits; the stops asked, if any. A
        silent charger would not hear it: it stays reserved at its most."""
        stops = _sessions_to_stop(site_plan.request, self._fixed_draws(site_plan))
        if not stops:
            return None
        for draw in stops:
            self._stopping[draw.transaction_id] = asyncio.get_running_loop().time()
            site_plan.alerts.append(
                f"{draw.charge_point_id} refuses profiles and may draw {draw.watts:.0f} W: "
                f"stopping transaction {draw.transaction_id} to keep the site within its limit"
            )
        return self._background.spawn(
            asyncio.gather(*(self._stop(site_plan.site_id, d) for d in stops))
        )

    def _fixed_draws(self, site_plan: SitePlan) -> list[Draw]:
        """The plan's sessions of uncontrolled chargers, each with what it may hold from now
        on (its last accepted profile or fail-safe; unknown: the charger's maximum), less
        those asked to stop lately."""
        now = asyncio.get_running_loop().time()
        for ended in [t for t, at in self._stopping.items() if now - at > STOP_WAIT_S]:
            del self._stopping[ended]
        since = self._clock.now().replace(microsecond=0)
        draws = []
        for session in site_plan.request.sessions:
            found = site_plan.transactions.get(session.id)
            if found is None or not session.uncontrollable:
                continue  # reserved connectors and expected EVs have no session to stop
            charger, connector, transaction_id = found
            if transaction_id in self._stopping:
                continue
            placed = self._places.placed.get(charger)
            most = placed.max_w if placed is not None else session.max_power_w
            held, _ = self._dispatcher.held_steps((charger, connector), transaction_id, since)
            if held:
                most = min(most, max(watts for _, watts in held))
            stoppable = not self._health.silent(charger) and self._presence.is_connected(charger)
            draws.append(Draw(session, charger, transaction_id, most, stoppable))
        return draws

    async def _stop(self, site_id: str, draw: Draw) -> None:
        """RemoteStopTransaction, and a critical alert on the charger either way."""
        charger, transaction_id = draw.charge_point_id, draw.transaction_id
        try:
            answer = await self._chargers.remote_stop(charger, transaction_id)
            problem = None if answer.status is Acceptance.ACCEPTED else "it answered Rejected"
        except DomainError as error:
            problem = describe(error)
        if problem is None:
            done = f"transaction {transaction_id} stopped"
        else:  # asked again at the next replan
            self._stopping.pop(transaction_id, None)
            done = f"transaction {transaction_id} could not be stopped ({problem})"
        log.warning("%s: %s to keep site %s within its limit", charger, done, site_id)
        with logged_failure("could not record the alert"):
            await self._alerts.raise_alert(
                AlertKey(AlertKind.SESSION_STOPPED, charger, site_id),
                f"{charger} refuses charging profiles and may draw {draw.watts / 1000:.1f} kW, "
                f"more than site {site_id} can spare with every other charger at 0: {done}",
                severity=Severity.CRITICAL,
                details={
                    "transaction_id": transaction_id,
                    "may_draw_w": draw.watts,
                    "stopped": problem is None,
                },
            )


def _sessions_to_stop(request: PlanRequest, draws: Sequence[Draw]) -> list[Draw]:
    """The stoppable draws to stop, largest first, until the building (on the grid
    connection, as measured now) and the draws left fit every circuit's limit; every
    stoppable one below an overloaded circuit when even that is not enough. Against the
    limits themselves, not less the safety margin: a session is stopped only for the fuse."""
    building = _at(request.series.base_load_w, 0) - _at(request.series.solar_w, 0)
    parents = {c.id: c.parent_id for c in request.circuits}

    def above(circuit_id: str) -> set[str]:
        found: set[str] = set()
        while circuit_id in parents and circuit_id not in found:
            found.add(circuit_id)
            circuit_id = parents[circuit_id] or ""
        return found

    left, stopped = list(draws), list[Draw]()
    while True:
        over = {
            c.id
            for c in request.circuits
            if _overloaded(
                c,
                [d for d in left if c.id in above(d.session.circuit_id)],
                building if c.parent_id is None else 0.0,
                request.voltage,
            )
        }
        candidates = [d for d in left if d.stoppable and over & above(d.session.circuit_id)]
        if not candidates:
            return stopped
        largest = max(candidates, key=lambda d: d.watts)
        left.remove(largest)
        stopped.append(largest)


def _overloaded(circuit: Circuit, draws: list[Draw], fixed_w: float, voltage: float) -> bool:
    """Over its power limit, or its current limit on a phase (`fixed_w` spread on three)."""
    power_w = fixed_w + sum(d.watts for d in draws)
    if circuit.max_power_w is not None and power_w > circuit.max_power_w:
        return True
    limit_a = circuit.max_current_a
    return limit_a is not None and any(
        (fixed_w / 3 + _phase_w(draws, phase)) / voltage > limit_a for phase in (1, 2, 3)
    )


def _phase_w(draws: list[Draw], phase: int) -> float:
    return sum(d.watts / len(d.session.phases) for d in draws if phase in d.session.phases)


def _at(values: Sequence[float], t: int) -> float:
    return values[t] if t < len(values) else 0.0
