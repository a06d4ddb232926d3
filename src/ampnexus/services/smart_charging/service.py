"""SmartChargingService: the events that ask for a replan, their coalescing, the replan
itself (request, planner, compile, dispatch) and what a failing one keeps.

A replan is requested by events (a transaction starts or stops, a charger boots, measured
power or the site's meter moves by more than a threshold, a site, circuit or placement
changes) and by a timer. A site idle replans at once; requests while it replans make one
more replan after it, so a burst costs at most two. The planner is pure CPU work and runs
in a worker thread. A replan that fails in any step keeps the last good plan, marked stale,
and raises a REPLAN_FAILED alert that the next successful replan resolves."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ampnexus.charging.forecast import DEFAULT_WEEKS
from ampnexus.charging.model import Priority
from ampnexus.charging.plausible import DEFAULT_READING_MARGIN, reading_problem
from ampnexus.domain.alert import AlertKey, AlertKind, Severity
from ampnexus.domain.charging_mode import ChargingMode
from ampnexus.domain.demand_response import Event as DrEvent
from ampnexus.domain.demand_response import LevelCuts, site_limits
from ampnexus.domain.errors import NotFound, Unavailable
from ampnexus.domain.events import (
    ChargerBooted,
    DemandResponseChanged,
    DriverChanged,
    IdTagChanged,
    ModeChanged,
    NeedChanged,
    OperatorLimitChanged,
    PowerMeasured,
    SiteChanged,
    SiteMeterRead,
    TransactionStarted,
    TransactionStopped,
)
from ampnexus.domain.reservation import ReservationChanged
from ampnexus.domain.time import Clock
from ampnexus.services.alerts import AlertService
from ampnexus.services.planning_ports import (
    ChargerModes,
    ChargerPresence,
    DemandResponseLimits,
    OperatorBounds,
    ReservedConnectors,
    RunningSessions,
    SessionNeeds,
    SiteDirectory,
    SiteSignals,
    SlotPrices,
)
from ampnexus.services.ports import ChargerCommands, EventPublisher, TransactionStore
from ampnexus.services.smart_charging.background import Background, SessionFlags, logged_failure
from ampnexus.services.smart_charging.capabilities import ChargerKeys
from ampnexus.services.smart_charging.ceilings import OperatorCeilings
from ampnexus.services.smart_charging.demand_response import with_demand_response
from ampnexus.services.smart_charging.dispatch import Dispatcher
from ampnexus.services.smart_charging.expected import ExpectedEVs
from ampnexus.services.smart_charging.fail_safes import FailSafes
from ampnexus.services.smart_charging.health import ChargerHealth
from ampnexus.services.smart_charging.model import (
    METER_MAX_AGE,
    Dispatch,
    Planner,
    ReplanFailure,
    SitePlan,
    describe,
    log,
)
from ampnexus.services.smart_charging.modes import ModeRules
from ampnexus.services.smart_charging.places import Places
from ampnexus.services.smart_charging.readings import POWER_CHANGE_W, Readings
from ampnexus.services.smart_charging.request import RequestBuilder
from ampnexus.services.smart_charging.safety import SiteSafety
from ampnexus.services.smart_charging.summary import plan_updated


@dataclass
class _SiteState:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    replanning: asyncio.Task[None] | None = None  # requested replans, one after the other
    again: bool = False  # requested while replanning: one more replan when it ends
    ended_at: float = -math.inf  # when the last requested replan ended (monotonic)
    replans: int = 0  # replans made, requested or not (tests count them)
    dispatch: asyncio.Task[None] | None = None  # sending the latest plan's profiles
    stopping: list[asyncio.Task[None]] = field(default_factory=list)  # remote stops asked


class SmartChargingService:
    def __init__(
        self,
        *,
        sites: SiteDirectory,
        sessions: RunningSessions,
        needs: SessionNeeds,
        signals: SiteSignals,
        prices: SlotPrices,
        presence: ChargerPresence,
        commands: ChargerCommands,
        planner: Planner,
        clock: Clock,
        alerts: AlertService,
        reading_margin: float = DEFAULT_READING_MARGIN,
        slot_seconds: int = 900,
        horizon_slots: int = 96,
        replan_gap_s: float = 0.15,
        time_budget_s: float = 1.0,
        history: TransactionStore | None = None,
        forecast_weeks: int = DEFAULT_WEEKS,
        profile_deadline_s: float = 5.0,
        modes: ChargerModes | None = None,
        operator: OperatorBounds | None = None,
        demand_response: DemandResponseLimits | None = None,
        reservations: ReservedConnectors | None = None,
    ) -> None:
        """`reservations`: the connectors held for a driver to come (None: none).
        `modes`: each charger's charging mode (None: every charger is smart).
        `operator`: the profiles operators gave chargers, kept as upper bounds (None: none).
        `demand_response`: what demand-response events ask of sites (None: nothing)."""
        self._planner = planner
        self._clock = clock
        self._alerts = alerts
        self.reading_margin = reading_margin
        self.slot_seconds = slot_seconds
        self.horizon_slots = horizon_slots
        self.replan_gap_s = replan_gap_s
        self.time_budget_s = time_budget_s
        self.profile_deadline_s = profile_deadline_s
        self.forecast_weeks = forecast_weeks
        self._plans: dict[str, SitePlan] = {}
        self._events: EventPublisher | None = None  # set by attach
        self._announced: dict[str, int] = {}  # site -> the last PlanUpdated announced
        self._sites: dict[str, _SiteState] = {}
        self._meter_w: dict[str, float] = {}  # site -> its meter's last fresh reading
        self._placing: dict[str, list[PowerMeasured]] = {}  # readings while placed is read
        self._failures: dict[str, ReplanFailure | None] = {}  # site -> last replan's; None: ok
        # The parts, each holding what it alone changes; later ones use earlier ones.
        replan = self.request_replan
        self._background = Background(alerts)
        self._flags = SessionFlags(self._background)
        self._places = Places(sites)
        self._readings = Readings(clock)
        self._health = ChargerHealth(self._background, replan)
        self._keys = ChargerKeys(
            commands=commands,
            presence=presence,
            places=self._places,
            health=self._health,
            background=self._background,
            replan=replan,
            profile_deadline_s=profile_deadline_s,
        )
        self._fail_safes = FailSafes(
            commands=commands, presence=presence, clock=clock, keys=self._keys, health=self._health
        )
        self._ceilings = OperatorCeilings(operator, clock)
        self._modes = ModeRules(
            modes=modes,
            commands=commands,
            presence=presence,
            clock=clock,
            keys=self._keys,
            ceilings=self._ceilings,
            demand_response=demand_response,
        )
        self._expected = ExpectedEVs(
            history=history,
            forecast_weeks=forecast_weeks,
            reading_margin=reading_margin,
            keys=self._keys,
            flags=self._flags,
        )
        self._requests = RequestBuilder(
            sessions=sessions,
            needs=needs,
            signals=signals,
            prices=prices,
            presence=presence,
            clock=clock,
            places=self._places,
            readings=self._readings,
            keys=self._keys,
            health=self._health,
            fail_safes=self._fail_safes,
            modes=self._modes,
            expected=self._expected,
            flags=self._flags,
            reading_margin=reading_margin,
            slot_seconds=slot_seconds,
            horizon_slots=horizon_slots,
            operator=operator,
            demand_response=demand_response,
            reservations=reservations,
        )
        self._dispatcher = Dispatcher(
            commands=commands,
            clock=clock,
            background=self._background,
            places=self._places,
            keys=self._keys,
            health=self._health,
            fail_safes=self._fail_safes,
            modes=self._modes,
            readings=self._readings,
            replan=replan,
            profile_deadline_s=profile_deadline_s,
            ceilings=self._ceilings,
        )
        self._safety = SiteSafety(
            commands=commands,
            presence=presence,
            clock=clock,
            background=self._background,
            places=self._places,
            health=self._health,
            dispatcher=self._dispatcher,
        )

    # --- events ---------------------------------------------------------------------------------
    def attach(self, bus: Any) -> None:
        self._events = bus
        bus.subscribe(TransactionStarted, self._started)
        bus.subscribe(TransactionStopped, self._stopped)
        bus.subscribe(ChargerBooted, self._booted)
        bus.subscribe(PowerMeasured, self._measured)
        bus.subscribe(NeedChanged, self._need_changed)
        bus.subscribe(SiteChanged, self._site_changed)
        bus.subscribe(ModeChanged, self._mode_changed)
        bus.subscribe(SiteMeterRead, self._meter_read)
        bus.subscribe(OperatorLimitChanged, self._operator_changed)
        bus.subscribe(DemandResponseChanged, self._demand_response_changed)
        # A reservation made or ended: room for its driver is kept, or given back.
        bus.subscribe(ReservationChanged, lambda e: self._charger_changed(e.charge_point_id))
        # A driver's priority, cap or defaults, or a deleted tag's need: wherever they charge.
        bus.subscribe(DriverChanged, lambda e: self._spawn(self.replan_all()))
        bus.subscribe(IdTagChanged, lambda e: self._spawn(self.replan_all()))

    def _started(self, event: TransactionStarted) -> None:
        self._modes.started(event.transaction_id, event.charge_point_id)
        self._charger_changed(event.charge_point_id)

    def _operator_changed(self, event: OperatorLimitChanged) -> None:
        """An operator set or cleared a profile (or a remote start's took hold): what the
        charger holds of ours is no longer known (theirs may have replaced it); replanned
        at once."""
        self._dispatcher.operator_changed(event.charge_point_id)
        self._fail_safes.booted(event.charge_point_id)  # theirs may have replaced ours
        self._modes.operator_changed(event.charge_point_id)
        self._charger_changed(event.charge_point_id)

    def _demand_response_changed(self, event: DemandResponseChanged) -> None:
        """An event received, modified or cancelled: its sites are replanned at once, so
        the plan can move charging out of the event's slots while there is time."""
        for site_id in event.site_ids:
            self.request_replan(site_id)

    def _site_changed(self, event: SiteChanged) -> None:
        self._modes.changed(event.site_id)  # its default_mode may have changed
        self.placement_changed({event.site_id})

    def _mode_changed(self, event: ModeChanged) -> None:
        """At once: the site is replanned, the charger's profiles replaced."""
        self._modes.changed()
        self._charger_changed(event.charge_point_id)

    def _meter_read(self, event: SiteMeterRead) -> None:
        """A fresh reading that moved by the threshold replans (coalesced, like a charger's);
        an old one plans nothing now (`METER_MAX_AGE`)."""
        if self._clock.now() - event.taken_at > METER_MAX_AGE:
            return
        before = self._meter_w.get(event.site_id)
        self._meter_w[event.site_id] = event.power_w
        if before is None or abs(before - event.power_w) >= POWER_CHANGE_W:
            self.request_replan(event.site_id)

    def _need_changed(self, event: NeedChanged) -> None:
        if event.charge_point_id is None:  # an id tag's need: its sessions may be anywhere
            self._spawn(self.replan_all())
        else:
            self._charger_changed(event.charge_point_id)

    def _measured(self, event: PowerMeasured) -> None:
        """Checked against the charger's bounds, which need its placement: known at once
        after the first reading, and until then the readings wait, in order."""
        charger = event.charge_point_id
        if charger in self._places.placed:
            self._take_reading(event)
        elif charger in self._placing:
            self._placing[charger].append(event)
        else:
            self._placing[charger] = [event]
            self._spawn(self._place_then_take(charger))

    async def _place_then_take(self, charge_point_id: str) -> None:
        try:
            await self._places.place(charge_point_id)
        finally:
            for event in self._placing.pop(charge_point_id, []):
                self._take_reading(event)

    def _take_reading(self, event: PowerMeasured) -> None:
        charger = event.charge_point_id
        placed = self._places.placed.get(charger)
        if placed is None:
            return  # on no site: no plan uses its readings
        problem = reading_problem(
            event.power_w, event.register_wh, placed.max_w, self.reading_margin
        )
        if problem is not None:
            self._background.flag(
                AlertKey(AlertKind.IMPLAUSIBLE_READING, charger, placed.site_id),
                f"{charger} connector {event.connector_id}: {problem}; ignored for planning",
                {
                    "connector_id": event.connector_id,
                    "power_w": _json_number(event.power_w),
                    "register_wh": _json_number(event.register_wh),
                    "max_power_w": placed.max_w,
                    "margin": self.reading_margin,
                },
            )
            return
        if self._readings.take(event, placed.max_w):
            self.request_replan(placed.site_id)

    def _stopped(self, event: TransactionStopped) -> None:
        # Its last reading would otherwise stay in force, and the building's load estimate
        # (the meter less the EVs) would lose what the departed car drew.
        self._readings.remember((event.charge_point_id, event.connector_id), event.at, 0.0)
        self._dispatcher.transaction_ended(event.transaction_id)
        self._modes.ended(event.transaction_id)
        self._spawn(self._replan_site_of(event.charge_point_id, history_changed=True))

    def _booted(self, event: ChargerBooted) -> None:
        self._keys.booted(event.charge_point_id)
        self._modes.booted(event.charge_point_id)
        self._dispatcher.booted(event.charge_point_id)
        self._health.booted(event.charge_point_id)
        self._spawn(self._prepare_charger(event.charge_point_id))

    async def _prepare_charger(self, charge_point_id: str) -> None:
        """After a boot: learn what profiles it takes, give it its fail-safe at once (a
        rebooted charger may have lost it), then replan its site."""
        self._fail_safes.booted(charge_point_id)
        placement = await self._places.placement(charge_point_id)
        if placement is None or placement.site_id is None:
            return
        layout = await self._places.layout(placement.site_id)
        planned = placement.site_id in self._plans
        share = self._fail_safes.after_boot_w(layout, placement, planned)
        mode = (await self._modes.of_site(layout)).get(charge_point_id)
        delay = 0
        if mode is not None:
            delay = self._modes.start_delay_s(mode, placement.site_id)
            if mode.mode is ChargingMode.USER_CONTROLLED:
                share = 0.0
        capabilities = await self._keys.of(charge_point_id)
        each_w, level = await self._ceilings.fail_safe(charge_point_id, capabilities)
        if math.isfinite(each_w):
            share = min(share, each_w * max(1, capabilities.connectors))
        await self._fail_safes.install(charge_point_id, share, delay, level)
        if self._fail_safes.held_w(charge_point_id) == share:
            self._modes.fail_safe_accepted(charge_point_id, delay)
        self.request_replan(placement.site_id)

    def placement_changed(self, site_ids: set[str | None]) -> None:
        """A charger was placed, moved or removed, or a site or circuit changed: fail-safe
        shares, chargers' bounds and plans change."""
        self._places.changed()
        for site_id in site_ids - {None}:
            assert site_id is not None
            self.request_replan(site_id)

    def _charger_changed(self, charge_point_id: str) -> None:
        self._spawn(self._replan_site_of(charge_point_id))

    async def _replan_site_of(self, charge_point_id: str, history_changed: bool = False) -> None:
        placed = (  # read once: this runs on every start and stop
            self._places.placed[charge_point_id]
            if charge_point_id in self._places.placed
            else await self._places.place(charge_point_id)
        )
        if placed is not None:
            site_id = placed.site_id
            if history_changed:
                self._expected.history_changed(site_id)
            self.request_replan(site_id)

    # --- replanning -----------------------------------------------------------------------------
    def request_replan(self, site_id: str) -> None:
        """At once when the site is idle (at least `replan_gap_s` after its last requested
        replan); while it replans, one more replan follows it, whatever the number of
        requests meanwhile: a burst of events makes at most two."""
        state = self._sites.setdefault(site_id, _SiteState())
        if state.replanning is not None and not state.replanning.done():
            state.again = True
        else:
            state.replanning = self._spawn(self._replan_while_asked(site_id, state))

    async def _replan_while_asked(self, site_id: str, state: _SiteState) -> None:
        loop = asyncio.get_running_loop()
        while True:
            gap = state.ended_at + self.replan_gap_s - loop.time()
            if gap > 0:  # requests during the gap join this replan
                await asyncio.sleep(gap)
            state.again = False
            try:
                with contextlib.suppress(NotFound):  # the site was deleted meanwhile
                    await self._replan(site_id)
            finally:
                state.ended_at = loop.time()
            if not state.again:
                return

    async def settled(self, site_id: str) -> None:
        """Return once no replan that events asked for is running or due at the site."""
        state = self._sites.get(site_id)
        while state is not None and state.replanning is not None and not state.replanning.done():
            await asyncio.wait([state.replanning])

    async def dispatched(self, site_id: str) -> None:
        """Return once the latest plan's profiles were sent and answered, or given up on at
        the deadline (a dispatch that a newer plan replaced counts as ended), and the
        sessions stopped for the site's limit were answered."""
        await self.settled(site_id)
        state = self._sites.get(site_id)
        if state is not None:
            tasks = [t for t in (state.dispatch, *state.stopping) if t is not None]
            if tasks:
                await asyncio.wait(tasks)

    def replans_made(self, site_id: str) -> int:
        """How many replans of the site were made since start (requested or by the API)."""
        state = self._sites.get(site_id)
        return state.replans if state else 0

    async def replan(self, site_id: str) -> SitePlan:
        """Plan the site now and apply the plan. A replan that fails keeps the last good plan
        (marked stale); Unavailable when there is none to keep. NotFound: no such site."""
        site_plan = await self._replan(site_id)
        if site_plan is None:
            failure = self._failures.get(site_id)
            raise Unavailable(
                f"site {site_id} has no plan yet: planning it failed"
                + (f" ({failure.error})" if failure else "")
                + "; a replan_failed alert tells more"
            )
        return site_plan

    async def _replan(self, site_id: str) -> SitePlan | None:
        state = self._sites.setdefault(site_id, _SiteState())
        async with state.lock:  # one planner at a time per site
            state.replans += 1
            try:
                site_plan, dispatch = await self._plan_and_compile(site_id)
            except NotFound:  # only the site itself is looked up by id: it is gone
                self._forget(site_id)
                raise
            except Exception as error:  # reading, planning, compiling: the site carries on
                return await self._failed(site_id, error)
            self._plans[site_id] = site_plan
            self._start_dispatch(site_id, dispatch)  # runs on after the lock is released
            self._spawn(self._announce(site_plan, self._sites[site_id].dispatch))
            self._stop_if_over(site_plan)  # likewise
            await self._succeeded(site_id)
            return site_plan

    async def _plan_and_compile(self, site_id: str) -> tuple[SitePlan, Dispatch]:
        started = time.perf_counter()
        layout = await self._places.layout(site_id)
        request, transactions, rules, limits = await self._requests.request(layout)
        read = time.perf_counter()
        plan = await asyncio.to_thread(self._planner, request, time_budget_s=self.time_budget_s)
        site_plan = SitePlan(
            site_id,
            self._clock.now(),
            request,
            plan,
            transactions,
            rules=rules,
            limits=limits,
            demand_response=self._requests.shaped_by.pop(site_id, ()),
        )
        planned = time.perf_counter()
        with _collector_paused():
            dispatch = await self._dispatcher.compile(site_plan, layout)
        overridden = {
            transactions[session][0] for session, rule in rules.items() if rule.charge_now
        }
        modes = await self._modes.of_site(layout)
        self._spawn(self._modes.hold(layout, modes, overridden))  # each charger's mode profile
        log.info(  # where a replan's time goes (bench/replan.py reads it)
            "site %s planned %d sessions by %s in %.0f ms (solve %.0f ms, reads %.0f ms, "
            "compile %.0f ms)",
            site_id,
            len(transactions),  # the real ones: not the expected EVs or reserved draws
            plan.method,
            (planned - read) * 1000,
            plan.solve_ms,
            (read - started) * 1000,
            (time.perf_counter() - planned) * 1000,
        )
        return site_plan, dispatch

    async def _announce(self, site_plan: SitePlan, dispatch: asyncio.Task[Any] | None) -> None:
        """PlanUpdated when the plan differs from the last one announced for the site: a
        replan on a reading mostly confirms the plan, and integrators (and the feed's
        storage) want the changes. Told once its profiles went out: summing up a plan of a
        thousand sessions costs the event loop tens of milliseconds the chargers need more."""
        if self._events is None:
            return
        if dispatch is not None:
            await asyncio.wait([dispatch])
        if self._plans.get(site_plan.site_id) is not site_plan:
            return  # a newer plan replaced it meanwhile: that one is told
        event = plan_updated(site_plan)
        # Its power steps and constraints, not its energy: that shrinks as the slot passes.
        shape = tuple((s.transaction_id, s.power_w, s.waiting_reason) for s in event.sessions)
        key = hash((event.method, shape, event.binding, event.alerts))
        if self._announced.get(site_plan.site_id) != key:
            self._announced[site_plan.site_id] = key
            self._events.publish(event)

    def _start_dispatch(self, site_id: str, dispatch: Dispatch) -> None:
        """Sending happens outside the site's lock: a newer plan's dispatch replaces one
        still running (its second wave is then never sent)."""
        state = self._sites[site_id]
        if state.dispatch is not None:
            state.dispatch.cancel()
        state.dispatch = self._spawn(self._dispatcher.run(dispatch))

    def _stop_if_over(self, site_plan: SitePlan) -> None:
        """The last resort (`SiteSafety`): its remote stops count as the site's dispatch."""
        stopping = self._safety.stop_if_over(site_plan)
        if stopping is not None:
            state = self._sites[site_plan.site_id]
            state.stopping = [t for t in state.stopping if not t.done()]
            state.stopping.append(stopping)

    async def _failed(self, site_id: str, error: Exception) -> SitePlan | None:
        """Keep the last good plan in force, say so on it, and alert (counted per failure)."""
        failure = ReplanFailure(describe(error), self._clock.now())
        last = self._plans.get(site_id)
        if last is not None:
            last.failure = failure
        if self._failures.get(site_id) is None:  # the first failure: its traceback, once
            log.warning(
                "site %s: replan failed, keeping the last good plan", site_id, exc_info=error
            )
        self._failures[site_id] = failure
        kept = f"keeping the plan made at {last.made_at.isoformat()}" if last else "no plan to keep"
        with logged_failure("could not record the alert"):
            await self._alerts.raise_alert(
                AlertKey(AlertKind.REPLAN_FAILED, site_id=site_id),
                f"site {site_id}: replan failed ({failure.error}); {kept}",
                severity=Severity.CRITICAL,
                details={
                    "error": failure.error,
                    "failed_at": failure.failed_at.isoformat(),
                    "plan_made_at": last.made_at.isoformat() if last else None,
                },
            )
        return last

    async def _succeeded(self, site_id: str) -> None:
        """Resolve the site's REPLAN_FAILED alert on the way back to health, not on every
        replan (after a restart, once: an alert may be open from before)."""
        if site_id in self._failures and self._failures[site_id] is None:
            return
        if self._failures.get(site_id) is not None:
            log.info("site %s: replanning works again", site_id)
        self._failures[site_id] = None
        with logged_failure("could not resolve the alert"):
            await self._alerts.resolve(AlertKey(AlertKind.REPLAN_FAILED, site_id=site_id))

    def _forget(self, site_id: str) -> None:
        self._plans.pop(site_id, None)
        self._places.forget(site_id)
        self._meter_w.pop(site_id, None)
        if self._failures.pop(site_id, None) is not None:  # its failures went with it
            self._spawn(self._alerts.resolve(AlertKey(AlertKind.REPLAN_FAILED, site_id=site_id)))

    def power_now_w(self, charge_point_id: str, connector_id: int) -> float | None:
        """What the connector drew at its latest plausible reading (None: none yet)."""
        return self._readings.power_w((charge_point_id, connector_id))

    def current_plan(self, site_id: str) -> SitePlan | None:
        return self._plans.get(site_id)

    async def premium_shortfall_wh(self, site_id: str, event: DrEvent, cuts: LevelCuts) -> float:
        """What the site's plugged-in premium sessions would lack of their need under the
        event, beyond what they lack without it: the site is planned both ways now (on top
        of the events already in force), nothing is applied."""
        state = self._sites.setdefault(site_id, _SiteState())
        async with state.lock:
            layout = await self._places.layout(site_id)
            request, _, _, _ = await self._requests.request(layout)
            self._requests.shaped_by.pop(site_id, None)  # a trial: no plan says it
        grid = request.grid
        starts = [self._clock.now()] + [grid.slot_start(t) for t in range(1, grid.count)]
        ends = [grid.slot_start(t + 1) for t in range(grid.count)]
        limits = site_limits([event], site_id, starts, ends, {event.program_id: cuts})
        under = with_demand_response(request, limits)
        premium = [
            s.id
            for s in request.sessions
            if s.priority is Priority.PREMIUM and not (s.expected or s.uncontrollable)
        ]
        if not premium or under is request:
            return 0.0
        budget = self.time_budget_s
        without, with_event = await asyncio.gather(
            asyncio.to_thread(self._planner, request, time_budget_s=budget),
            asyncio.to_thread(self._planner, under, time_budget_s=budget),
        )
        return sum(
            max(0.0, with_event.unmet_wh.get(s, 0.0) - without.unmet_wh.get(s, 0.0))
            for s in premium
        )

    def site_ev_power_w(self, site_id: str) -> float:
        """The site's EV load now, by its chargers' latest readings (those placed as far as
        the last replan knew)."""
        placed = self._places.placed.items()
        return self._readings.latest_w({c for c, p in placed if p and p.site_id == site_id})

    async def replan_all(self) -> None:
        """The timer's replan: prices, forecasts and departures move even when chargers don't;
        sites whose replan failed are retried."""
        for site_id in set(self._plans) | set(self._failures):
            self.request_replan(site_id)

    def _spawn(self, coroutine: Any) -> asyncio.Task[Any]:
        return self._background.spawn(coroutine)

    async def stop(self) -> None:
        await self._background.stop()


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """A compile of 1,000 sessions makes about a million short-lived objects, which
    reference counting frees; with thousands of connections in the heap, the collections
    they set off cost as much as the compile itself (in bench/replan.py, 268 ms against
    181 ms paused). Cycles, if any, wait for the next collection after it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _json_number(value: float | None) -> float | str | None:
    """NaN and infinities are no JSON numbers: kept as text."""
    return value if value is None or math.isfinite(value) else str(value)
