"""A site's state as a PlanRequest: its circuits, the running sessions with their needs,
the connectors the plan cannot steer, the EVs expected later, and the building's load and
the site's prices, solar and carbon over the horizon.

What chargers report enters a plan only within physical bounds (`charging.plausible`): a
reading or session outside them is left out or planned on sane assumptions, and flagged
with an alert."""

from __future__ import annotations

import asyncio
import bisect
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from ampnexus.charging.base_load import base_load_w
from ampnexus.charging.compiler import (
    MIN_CURRENT_A,
    PLAN_STACK_LEVEL,
    ChargerCapabilities,
    Steps,
    stack_level_above,
)
from ampnexus.charging.model import (
    Circuit,
    PlanRequest,
    Priority,
    Session,
    SiteSeries,
    SlotGrid,
)
from ampnexus.charging.plausible import register_problem, start_problem
from ampnexus.domain.charging_mode import EffectiveMode
from ampnexus.domain.charging_profile import ProfilePurpose
from ampnexus.domain.driver import PriorityClass
from ampnexus.domain.operator_profile import OperatorProfile
from ampnexus.domain.reservation import Reservation
from ampnexus.domain.series import SeriesKind
from ampnexus.domain.site import Placement, Site, SiteLayout
from ampnexus.domain.time import Clock
from ampnexus.domain.transaction import Transaction
from ampnexus.services.needs import SessionFacts
from ampnexus.services.planning_ports import (
    ChargerPresence,
    DemandResponseLimits,
    OperatorBounds,
    ReservedConnectors,
    RunningSessions,
    SessionNeeds,
    SiteSignals,
    SlotPrices,
)
from ampnexus.services.smart_charging.background import SessionFlags
from ampnexus.services.smart_charging.capabilities import ChargerKeys
from ampnexus.services.smart_charging.demand_response import shaped_by, with_demand_response
from ampnexus.services.smart_charging.expected import ExpectedEVs
from ampnexus.services.smart_charging.fail_safes import FailSafes
from ampnexus.services.smart_charging.health import ChargerHealth
from ampnexus.services.smart_charging.model import (
    DEFAULT_MAX_POWER_W,
    METER_MAX_AGE,
    SITE,
    OperatorLimit,
    Placed,
    SessionRule,
    log,
)
from ampnexus.services.smart_charging.modes import ModeRules, open_shares, schedule_energy_wh
from ampnexus.services.smart_charging.places import Places, physical_max_w_at
from ampnexus.services.smart_charging.readings import Readings


class RequestBuilder:
    def __init__(
        self,
        *,
        sessions: RunningSessions,
        needs: SessionNeeds,
        signals: SiteSignals,
        prices: SlotPrices,
        presence: ChargerPresence,
        clock: Clock,
        places: Places,
        readings: Readings,
        keys: ChargerKeys,
        health: ChargerHealth,
        fail_safes: FailSafes,
        modes: ModeRules,
        expected: ExpectedEVs,
        flags: SessionFlags,
        reading_margin: float,
        slot_seconds: int,
        horizon_slots: int,
        operator: OperatorBounds | None = None,
        demand_response: DemandResponseLimits | None = None,
        reservations: ReservedConnectors | None = None,
    ) -> None:
        """`reservations`: connectors held for a driver to come (None: none).
        `operator`: the profiles operators gave chargers (None: no bounds).
        `demand_response`: what demand-response events ask of sites (None: nothing)."""
        self._sessions = sessions
        self._reservations = reservations
        self._demand_response = demand_response
        # Site -> per slot, the demand-response events its latest request was shaped by
        # (taken by the replan that made the request, for the plan to say).
        self.shaped_by: dict[str, tuple[tuple[str, ...], ...]] = {}
        self._operator = operator
        self._needs = needs
        self._signals = signals
        self._prices = prices
        self._presence = presence
        self._clock = clock
        self._places = places
        self._readings = readings
        self._keys = keys
        self._health = health
        self._fail_safes = fail_safes
        self._modes = modes
        self._expected = expected
        self._flags = flags
        self._reading_margin = reading_margin
        self._slot_seconds = slot_seconds
        self._horizon_slots = horizon_slots

    async def request(
        self, layout: SiteLayout
    ) -> tuple[
        PlanRequest,
        dict[str, tuple[str, int, int]],
        dict[str, SessionRule],
        dict[str, OperatorLimit],
    ]:
        """The request, each real session's (charger, connector, transaction), the rule
        its charger's mode sets it and, where operators set profiles, what they leave it."""
        site = layout.site
        now = self._clock.now()
        elapsed = now.timestamp() % self._slot_seconds  # of the slot we are in
        start = now - timedelta(seconds=elapsed)
        grid = SlotGrid(start, self._slot_seconds, self._horizon_slots, elapsed_seconds=elapsed)
        circuits = [Circuit(SITE, None, _finite(site.limit_w), site.grid_limit_a)]
        circuits += [
            Circuit(c.id, c.parent_id or SITE, c.max_power_w, c.max_current_a)
            for c in layout.circuits
        ]
        sessions: list[Session] = []
        transactions: dict[str, tuple[str, int, int]] = {}
        # The reads that do not depend on each other overlap: each waits on the database.
        (running, facts, modes, bounds), series, expected, reserved = await asyncio.gather(
            self._session_reads(layout, grid, now),
            self._series(layout, grid),
            self._expected.expected(layout, grid, now),
            self._reserved(layout),
        )
        placements = {p.charge_point_id: p for p in layout.placements}
        rules: dict[str, SessionRule] = {}
        limits: dict[str, OperatorLimit] = {}
        for transaction, started_ok, max_w in running:
            placement = placements[transaction.charge_point_id]
            mode = modes[transaction.charge_point_id]
            rule = self._modes.session_rule(transaction, mode, site.time_zone, now, site.id)
            session = self._session(
                transaction, started_ok, facts[transaction.id], placement, site, grid, max_w
            )
            session = _ruled(session, rule, mode, facts[transaction.id], grid, now)
            limit = bounds.get(transaction.id)
            if limit is not None and not session.uncontrollable:
                session = _bounded(session, limit, grid, now)
                limits[session.id] = limit
            rules[session.id] = rule
            sessions.append(session)
            transactions[session.id] = (
                placement.charge_point_id,
                transaction.connector_id,
                transaction.id,
            )
        busy = Counter(charger for charger, _, _ in transactions.values())
        sessions += self._standby(layout, grid, busy)
        sessions += expected or self._expected.prior(layout, grid, sessions)
        sessions += self._held(layout, grid, reserved, set(transactions.values()))
        request = PlanRequest(
            grid=grid,
            circuits=tuple(circuits),
            sessions=tuple(sessions),
            series=series,
            voltage=site.voltage,
            safety_margin=site.safety_margin,
        )
        return self._demand_responded(request, site.id, now), transactions, rules, limits

    def _demand_responded(self, request: PlanRequest, site_id: str, now: datetime) -> PlanRequest:
        """The request under the demand-response events in force for the site, if any."""
        if self._demand_response is None:
            return request
        grid = request.grid
        starts = [now] + [grid.slot_start(t) for t in range(1, grid.count)]
        ends = [grid.slot_start(t) for t in range(1, grid.count + 1)]
        source = self._demand_response
        limits = source.site_limits(site_id, starts, ends)
        prices = source.site_prices(site_id, starts, ends)
        self.shaped_by[site_id] = shaped_by(limits, prices, grid.count)
        return with_demand_response(request, limits, prices)

    async def _session_reads(
        self, layout: SiteLayout, grid: SlotGrid, now: datetime
    ) -> tuple[
        list[tuple[Transaction, bool, float]],
        Mapping[int, SessionFacts],
        dict[str, EffectiveMode],
        dict[int, OperatorLimit],
    ]:
        """The running transactions, then what each needs, its charger's mode and what
        operators leave it, read at once."""
        running = await self._running(layout, now)
        facts, modes, bounds = await asyncio.gather(
            self._needs.resolve_all([t for t, _, _ in running], layout.site),
            self._modes.of_site(layout),
            self._operator_limits(layout, running, grid, now),
        )
        return running, facts, modes, bounds

    async def _operator_limits(
        self,
        layout: SiteLayout,
        running: list[tuple[Transaction, bool, float]],
        grid: SlotGrid,
        now: datetime,
    ) -> dict[int, OperatorLimit]:
        """Per running transaction, what operators' profiles leave it over the horizon: the
        site's chargers read in one go (the fail-safes and mode profiles use them too)."""
        if self._operator is None:
            return {}
        chargers = {t.charge_point_id for t, _, _ in running}
        capabilities = {c: await self._keys.of(c, wait_s=0.0) for c in chargers}
        await self._operator.load([p.charge_point_id for p in layout.placements])
        limits: dict[int, OperatorLimit] = {}
        for transaction, _, _ in running:
            charger = transaction.charge_point_id
            known = capabilities[charger]
            steps = self._operator.bound(
                charger,
                transaction.connector_id,
                transaction.id,
                transaction.started_at,
                known,
                now,
                grid.end,
            )
            if steps is None:
                continue
            level = _plan_level(self._operator.held(charger), transaction, known)
            if level is None:
                log.warning(
                    "%s transaction %d: no stack level free above the operator's TxProfile; "
                    "planned as drawing up to its bound, no profile of ours sent",
                    charger,
                    transaction.id,
                )
            limits[transaction.id] = OperatorLimit(steps, level)
        return limits

    async def _running(
        self, layout: SiteLayout, now: datetime
    ) -> list[tuple[Transaction, bool, float]]:
        """The site's running transactions in one read, charger by charger, newest first,
        with the most their charger can draw; one that claims an impossible start is taken
        as started now (False: flagged)."""
        site = layout.site
        placed = {
            p.charge_point_id: Placed(site.id, physical_max_w_at(p, site))
            for p in layout.placements
        }
        self._places.placed.update(placed)  # their bounds, for readings (the site may change)
        order = {p.charge_point_id: i for i, p in enumerate(layout.placements)}
        active = await self._sessions.active_on(list(order))
        running = []
        for transaction in sorted(active, key=lambda t: (order[t.charge_point_id], -t.id)):
            problem = start_problem(transaction.started_at, now)
            if problem is not None:  # its need and departure are worked out from now instead
                self._flags.flag(
                    transaction, site.id, "start", f"{problem}; planned as started now"
                )
                transaction = replace(transaction, started_at=now)
            running.append(
                (transaction, problem is None, placed[transaction.charge_point_id].max_w)
            )
        return running

    def _session(
        self,
        transaction: Transaction,
        started_ok: bool,
        facts: SessionFacts,
        placement: Placement,
        site: Site,
        grid: SlotGrid,
        max_w: float,
    ) -> Session:
        now = self._clock.now()
        need, driver = facts.need, facts.driver
        phases = placement.grid_phases(site.phases)
        max_power = placement.max_power_w or DEFAULT_MAX_POWER_W
        if driver is not None and driver.max_power_w:
            max_power = min(max_power, driver.max_power_w)
        since_start = now - transaction.started_at if started_ok else None
        delivered = self._delivered_wh(transaction, site.id, max_w, since_start)
        uncontrolled = self._health.uncontrolled(placement.charge_point_id)
        # An uncontrolled charger may draw its maximum until told otherwise, car or not.
        departure = grid.end if uncontrolled else max(need.departure, grid.slot_start(1))
        premium = driver is not None and driver.priority is PriorityClass.PREMIUM
        return Session(
            id=f"tx{transaction.id}",
            circuit_id=placement.circuit_id or SITE,
            arrival=min(transaction.started_at, grid.start),
            departure=departure,
            energy_wh=max(0.0, need.energy_wh - delivered),
            max_power_w=max_power,
            min_power_w=MIN_CURRENT_A * site.voltage * len(phases),
            phases=phases,
            priority=Priority.PREMIUM if premium else Priority.STANDARD,
            uncontrollable=uncontrolled,
        )

    def _delivered_wh(
        self, transaction: Transaction, site_id: str, max_w: float, since_start: timedelta | None
    ) -> float:
        """What the session's register says it delivered so far; 0 when that is implausible
        (the session is then planned for its whole need)."""
        key = (transaction.charge_point_id, transaction.connector_id)
        register_wh = self._readings.register_wh(key)
        if register_wh is None:
            return 0.0
        problem = register_problem(
            register_wh, transaction.meter_start, max_w, self._reading_margin, since_start
        )
        if problem is not None:
            self._flags.flag(transaction, site_id, "register", f"{problem}; not counted")
            return 0.0
        return register_wh - transaction.meter_start

    def _standby(self, layout: SiteLayout, grid: SlotGrid, busy: dict[str, int]) -> list[Session]:
        """Free connectors that the plan cannot steer, reserved as uncontrollable draws: an
        uncontrolled charger's (its maximum), and those of a charger offline or refusing
        its fail-safe (the fail-safe it holds, drawn the moment a car plugs in). The others'
        fail-safes follow the plan (`FailSafes.idle`) and need no room of their own.
        `busy`: connectors with a session, per charger."""
        standby = []
        for placement in layout.placements:
            charger = placement.charge_point_id
            if self._health.uncontrolled(charger):
                each = placement.max_power_w or DEFAULT_MAX_POWER_W
                free = 0 if busy.get(charger) else 1  # its maximum, whatever the connectors
            elif self._presence.is_connected(charger) and not self._fail_safes.stuck(charger):
                continue
            else:
                each = self._fail_safes.connector_w(charger) or 0.0
                known = self._keys.known(charger)  # known whenever a fail-safe is held
                free = known.connectors - busy.get(charger, 0) if known and each else 0
            if free <= 0 or not 0.0 < each < math.inf:
                continue
            standby.append(
                Session(
                    id=f"standby-{charger}",
                    circuit_id=placement.circuit_id or SITE,
                    arrival=grid.start,
                    departure=grid.end,
                    energy_wh=0.0,
                    max_power_w=each * free,
                    phases=placement.grid_phases(layout.site.phases),
                    uncontrollable=True,
                )
            )
        return standby

    async def _reserved(self, layout: SiteLayout) -> Sequence[Reservation]:
        if self._reservations is None or not layout.placements:
            return ()
        return await self._reservations.active_on([p.charge_point_id for p in layout.placements])

    def _held(
        self,
        layout: SiteLayout,
        grid: SlotGrid,
        reserved: Sequence[Reservation],
        running: set[tuple[str, int, int]],
    ) -> list[Session]:
        """Each reservation as an expected session on its connector, from now until its
        expiry: its driver is coming, so room is kept for the site's default need (what the
        connector can take before the expiry, if less). One whose connector already charges
        is left out (the transaction that used it is planned)."""
        site = layout.site
        placements = {p.charge_point_id: p for p in layout.placements}
        busy = {(charger, connector) for charger, connector, _ in running}
        held = []
        for reservation in reserved:
            placement = placements.get(reservation.charge_point_id)
            if placement is None or (reservation.charge_point_id, reservation.connector_id) in busy:
                continue
            departure = min(max(reservation.expires_at, grid.slot_start(1)), grid.end)
            max_power = placement.max_power_w or DEFAULT_MAX_POWER_W
            hours = (departure - grid.start).total_seconds() / 3600
            phases = placement.grid_phases(site.phases)
            held.append(
                Session(
                    id=f"reservation-{reservation.id}",
                    circuit_id=placement.circuit_id or SITE,
                    arrival=grid.start,
                    departure=departure,
                    energy_wh=min(site.default_energy_wh, max_power * hours),
                    max_power_w=max_power,
                    min_power_w=MIN_CURRENT_A * site.voltage * len(phases),
                    phases=phases,
                    expected=True,
                )
            )
        return held

    async def _series(self, layout: SiteLayout, grid: SlotGrid) -> SiteSeries:
        """The building load is what the meter saw minus what the site's EVs drew at the same
        moments, filtered (`charging.base_load`). The meter measures the net load, solar
        included, so a forecast can only add to it: where it expects less sun than is in the
        current slot, the difference is load to come; more sun than now is not counted. With
        no meter nothing is measured: the forecast is not trusted to raise the limit at all."""
        site_id, series = layout.site.id, self._signals
        since = self._clock.now() - METER_MAX_AGE
        meter = await series.recent(site_id, SeriesKind.SITE_METER, since)
        chargers = {placement.charge_point_id for placement in layout.placements}
        connectors = self._readings.connectors(chargers)
        measured = base_load_w(meter, connectors)
        forecast = await series.resampled(site_id, SeriesKind.SOLAR_FORECAST, grid)
        sun_now = forecast[0] if measured is not None and forecast else 0.0
        base = (measured or 0.0) + sun_now  # the building's own draw, before today's sun
        self._fail_safes.note_building(site_id, base)
        solar = tuple(min(sun, sun_now) for sun in forecast)
        carbon = await series.resampled(site_id, SeriesKind.CARBON, grid)
        prices = await self._prices.slot_prices(site_id, grid)
        return SiteSeries(
            base_load_w=(base,) * grid.count,
            solar_w=solar,
            import_price=prices[0] if prices else (),
            export_price=prices[1] if prices else (),
            carbon_g_per_kwh=carbon if any(carbon) else (),
        )


def _ruled(
    session: Session,
    rule: SessionRule,
    mode: EffectiveMode,
    facts: SessionFacts,
    grid: SlotGrid,
    now: datetime,
) -> Session:
    """The session with its mode's blocked time (to the second: slots partly open count
    their open share), and a schedule's energy target when its driver gave none."""
    if session.uncontrollable:
        return session
    energy = schedule_energy_wh(mode)
    if energy is not None and facts.need.energy_source in ("learned", "site"):
        session = replace(
            session, energy_wh=max(0.0, energy - (facts.need.energy_wh - session.energy_wh))
        )
    if not rule.blocked:
        return session
    starts = [now] + [grid.slot_start(t) for t in range(1, grid.count)]
    ends = [grid.slot_start(t) for t in range(1, grid.count + 1)]
    blocked, partial = open_shares(rule.intervals, starts, ends)
    return replace(session, blocked_slots=session.blocked_slots | blocked, open_shares=partial)


def _plan_level(
    held: Sequence[OperatorProfile], transaction: Transaction, capabilities: ChargerCapabilities
) -> int | None:
    """The stack level the session's TxProfile goes at: above the operator's TxProfiles
    for its transaction (None: none is free)."""
    theirs = [
        p.stack_level
        for p in held
        if p.purpose is ProfilePurpose.TX and p.transaction_id == transaction.id
    ]
    return stack_level_above(theirs, capabilities, PLAN_STACK_LEVEL)


def _bounded(session: Session, limit: OperatorLimit, grid: SlotGrid, now: datetime) -> Session:
    """The session under an operator's bound: capped in every slot at the bound's lowest
    there; with no TxProfile of ours possible, reserved as drawing up to the bound (the
    most it reaches over the horizon), as a charger refusing profiles is."""
    starts = [now] + [grid.slot_start(t) for t in range(1, grid.count)]
    ends = [grid.slot_start(t) for t in range(1, grid.count + 1)]
    lowest = slot_lowest(limit.steps, starts, ends)
    if limit.stack_level is None:
        most = max((watts for _, watts in limit.steps), default=math.inf)
        return replace(session, uncontrollable=True, max_power_w=min(session.max_power_w, most))
    caps = tuple((t, w) for t, w in enumerate(lowest) if w < session.max_power_w)
    return replace(session, slot_caps_w=caps)


def slot_lowest(steps: Steps, starts: Sequence[datetime], ends: Sequence[datetime]) -> list[float]:
    """Per slot [start, end), the lowest the steps are anywhere inside it (inf: no limit)."""
    moments = [moment for moment, _ in steps]
    out = []
    for start, end in zip(starts, ends, strict=True):
        first = bisect.bisect_right(moments, start) - 1  # the step in force at the start
        last = bisect.bisect_left(moments, end)  # the steps starting inside
        values = [w for _, w in steps[max(first, 0) : last]]
        if first < 0 and not values:
            values = [math.inf]
        out.append(min(values, default=math.inf))
    return out


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
