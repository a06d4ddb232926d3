"""Smart charging at run time: turn a site's state into a plan, the plan into charging
profiles, and keep both current.

A replan is requested by events (a transaction starts or stops, a charger boots, measured
power or the site's meter moves by more than a threshold, a site, circuit or placement
changes) and by a timer. A site idle replans at once; requests while it replans make one
more replan after it, so a burst costs at most two. The planner is pure CPU work and runs
in a worker thread.

Chargers that keep refusing profiles are planned as drawing their maximum (uncontrollable)
over the whole horizon, alerted, and left room by the others' fail-safes, so the rest of the
site stays within its limits. When even that cannot keep the site within a limit (what they
may hold and the building exceed it with every other charger at 0), their sessions are
stopped, largest first, until it fits (site safety, ADR 0003). Idle chargers' fail-safes
hold what the plan leaves free (ADR 0003, dynamic fail-safes), and a replan sends only the
profiles that change.

A plan is recorded under the site's lock and sent after it (ADR 0003, dispatch): reductions,
then increases, each wave concurrently and waited for at most the profile deadline. An
unconfirmed reduction withholds the increases; a charger that stays silent is alerted and,
like a refusing one, planned at its maximum until it answers.

Each plan also holds the EVs expected later in the horizon (`charging.forecast`: the site's
sessions of the same weekday in the previous weeks). They keep room for arrivals and turn on
the planner's deferral hedge (ADR 0005); only real sessions become charging profiles.

What chargers report enters a plan only within physical bounds (`charging.plausible`): a
reading or session outside them is left out or planned on sane assumptions, and flagged with
an alert. A replan that fails in any step keeps the last good plan, marked stale, and raises
a REPLAN_FAILED alert that the next successful replan resolves.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import math
import operator
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from ampnexus.charging.base_load import Connector, base_load_w
from ampnexus.charging.compiler import (
    MIN_CURRENT_A,
    Change,
    ChargerCapabilities,
    IdleConnectors,
    Lowered,
    ProfileCommand,
    Steps,
    constant_steps,
    fail_safe_per_connector_w,
    fail_safe_profile,
    highest_steps,
    idle_room_w,
    limit_now_w,
    lower_of,
    profile_steps,
    spans_where,
    steps_at,
    tx_profile,
)
from ampnexus.charging.forecast import (
    DEFAULT_WEEKS,
    PastSession,
    expected_sessions,
    history_start,
)
from ampnexus.charging.model import (
    Circuit,
    Plan,
    PlanRequest,
    Priority,
    Session,
    SiteSeries,
    SlotGrid,
)
from ampnexus.charging.plausible import (
    DEFAULT_READING_MARGIN,
    finished_problem,
    physical_max_w,
    reading_problem,
    register_problem,
    start_problem,
)
from ampnexus.charging.prior import Charger, prior_sessions
from ampnexus.domain.alert import AlertKey, AlertKind, Severity
from ampnexus.domain.charging_profile import (
    ChargingProfile,
    ChargingRateUnit,
    ProfileStatus,
    convert,
)
from ampnexus.domain.commands import Acceptance
from ampnexus.domain.driver import PriorityClass
from ampnexus.domain.errors import (
    CommandTimeout,
    Conflict,
    DomainError,
    NotFound,
    Unavailable,
)
from ampnexus.domain.events import (
    ChargerBooted,
    DriverChanged,
    IdTagChanged,
    NeedChanged,
    PowerMeasured,
    SiteChanged,
    SiteMeterRead,
    TransactionStarted,
    TransactionStopped,
)
from ampnexus.domain.series import SeriesKind, zone_of
from ampnexus.domain.site import Placement, Site, SiteLayout
from ampnexus.domain.time import Clock
from ampnexus.domain.transaction import Transaction
from ampnexus.services.alerts import AlertService
from ampnexus.services.needs import SessionFacts
from ampnexus.services.planning_ports import (
    ChargerPresence,
    RunningSessions,
    SessionNeeds,
    SiteDirectory,
    SiteSignals,
    SlotPrices,
)
from ampnexus.services.ports import ChargerCommands, TransactionStore

log = logging.getLogger(__name__)

SITE = "site"  # the circuit id of the grid connection itself
DEFAULT_MAX_POWER_W = 11_000.0
REFUSALS_BEFORE_EXCLUDED = 2
POWER_CHANGE_W = 1_000.0  # a measured change smaller than this does not trigger a replan
METER_MAX_AGE = timedelta(minutes=15)
# Replans come every few seconds; the history behind the forecast changes only when a
# transaction stops (which drops it at once) or as days pass, so it is read this seldom.
HISTORY_MAX_AGE = timedelta(minutes=15)
BUILDING_RESERVE_WINDOW = timedelta(hours=24)
KEYS_WAIT_S = 0.5  # what a compile waits for chargers' smart-charging keys not known yet
CAPABILITY_KEYS = (
    "ChargingScheduleAllowedChargingRateUnit",
    "ChargingScheduleMaxPeriods",
    "ChargeProfileMaxStackLevel",
    "MaxChargingProfilesInstalled",
    "NumberOfConnectors",
)

# A session asked to stop counts as drawing nothing for this long: its StopTransaction.req
# follows the answer at once (OCPP 1.6 §5.11); past it, it counts again and is asked again.
STOP_WAIT_S = 60.0
ENDED_REMEMBERED = 10_000  # stopped transactions remembered, far more than one dispatch sends
ERROR_CHARS = 300  # of a failed replan's error, as shown in the plan and its alert

Planner = Callable[..., Plan]


@dataclass(frozen=True, slots=True)
class ReplanFailure:
    error: str
    failed_at: datetime


@dataclass
class SitePlan:
    """The latest good plan of a site, what it was made from, and what went wrong applying
    it; `failure` when a later replan failed and this plan is still in force (stale)."""

    site_id: str
    made_at: datetime
    request: PlanRequest
    plan: Plan
    transactions: dict[str, tuple[str, int, int]]  # session id -> (charger, connector, tx id)
    alerts: list[str] = field(default_factory=list)
    failure: ReplanFailure | None = None

    @property
    def stale(self) -> bool:
        return self.failure is not None


@dataclass
class _SiteState:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    replanning: asyncio.Task[None] | None = None  # requested replans, one after the other
    again: bool = False  # requested while replanning: one more replan when it ends
    ended_at: float = -math.inf  # when the last requested replan ended (monotonic)
    replans: int = 0  # replans made, requested or not (tests count them)
    dispatch: asyncio.Task[None] | None = None  # sending the latest plan's profiles
    stopping: list[asyncio.Task[None]] = field(default_factory=list)  # remote stops asked


class _Outcome(Enum):
    ACCEPTED = "accepted"
    REFUSED = "refused"  # or failed: the charger holds its old limit
    # Offline, or the session ended: the plan no longer applies to it. Also a refused
    # fail-safe: a charger that keeps refusing it must not hold up the whole site.
    GONE = "gone"
    SILENT = "silent"  # no answer within the command timeout


@dataclass(frozen=True, slots=True)
class _Send:
    """One profile for one connector: a planned TxProfile, or on connector 0 the fail-safe."""

    charge_point_id: str
    connector_id: int
    limit_w: float  # what it allows now
    profile: ChargingProfile
    steps: Steps = ()  # a TxProfile's limits over time, in W

    @property
    def key(self) -> tuple[str, int]:
        return (self.charge_point_id, self.connector_id)


@dataclass(frozen=True, slots=True)
class _Dispatch:
    site_plan: SitePlan
    reductions: list[_Send]
    increases: list[_Send]


@dataclass(frozen=True, slots=True)
class _Draw:
    """A session that no profile can lower, and the most its charger may let it draw."""

    session: Session
    charge_point_id: str
    transaction_id: int
    watts: float
    stoppable: bool  # refusing profiles, but answering: RemoteStopTransaction reaches it


@dataclass(frozen=True, slots=True)
class _Placed:
    """A charger's site and the most it can draw there (charging.plausible)."""

    site_id: str
    max_w: float


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
    ) -> None:
        self._site_directory = sites
        self._sessions = sessions
        self._needs = needs
        self._signals = signals
        self._prices = prices
        self._presence = presence
        self._chargers = commands
        self._planner = planner
        self._clock = clock
        self._alerts = alerts
        self.reading_margin = reading_margin
        self.slot_seconds = slot_seconds
        self.horizon_slots = horizon_slots
        self.replan_gap_s = replan_gap_s
        self.time_budget_s = time_budget_s
        self.profile_deadline_s = profile_deadline_s
        self._plans: dict[str, SitePlan] = {}
        self._sites: dict[str, _SiteState] = {}
        self._power: dict[tuple[str, int], tuple[float, float | None]] = {}  # W, register Wh
        # Each connector's readings of the last METER_MAX_AGE, to pair with the site meter's.
        self._readings: dict[tuple[str, int], list[tuple[datetime, float]]] = {}
        self._building: dict[str, list[tuple[datetime, float]]] = {}  # site -> recent highs
        # When each connector's limit went up (accepted, or a later period of its profile):
        # until it reports again, a meter reading cannot tell its power from the building's.
        self._raised: dict[tuple[str, int], list[tuple[datetime, float]]] = {}
        self._meter_w: dict[str, float] = {}  # site -> its meter's last fresh reading
        self._fail_safe_w: dict[str, float] = {}  # the fail-safe each charger holds
        self._stuck: set[str] = set()  # refused its latest fail-safe: holds the one before
        self._idle_w: dict[str, float] = {}  # the fail-safe each charger's plan leaves it
        self._placed: dict[str, _Placed | None] = {}  # charger -> site (None: none), until moved
        self._layouts: dict[str, SiteLayout] = {}  # until SiteChanged
        self._site_changes = 0
        self._placing: dict[str, list[PowerMeasured]] = {}  # readings while _placed is read
        self._failures: dict[str, ReplanFailure | None] = {}  # site -> last replan's; None: ok
        self._flagged: set[tuple[int, str]] = set()  # (transaction, check) already alerted
        self._capabilities: dict[str, ChargerCapabilities] = {}
        self._unit_guessed: set[str] = set()  # answered without its units: A assumed
        self._refusals: dict[str, int] = {}
        self._reading_keys: dict[str, asyncio.Task[ChargerCapabilities]] = {}  # in flight
        self._in_flight: dict[tuple[str, int], tuple[asyncio.Task[_Outcome], _Send]] = {}
        # Per connector, the transaction and the TxProfiles it may hold (more than one while
        # a send is unanswered), as limits over time: a new profile is judged against them.
        self._held: dict[tuple[str, int], tuple[int | None, tuple[Steps, ...]]] = {}
        self._late: set[asyncio.Task[Any]] = set()  # sends past the deadline, still waiting
        self._answering: dict[str, bool] = {}  # charger -> answered last (absent: not known)
        # Transactions stopped lately, oldest first: a profile for one is not a refusal.
        self._ended_transactions: dict[int, None] = {}
        self._stopping: dict[int, float] = {}  # transaction -> when asked to stop (monotonic)
        self._tasks: set[asyncio.Task[Any]] = set()
        # No store or no weeks: no forecast, plans hold only the EVs plugged in.
        self._history_store = history if forecast_weeks > 0 else None
        self.forecast_weeks = forecast_weeks
        self._history: dict[str, tuple[datetime, Sequence[Transaction]]] = {}  # site -> read at
        self._history_stops: dict[str, int] = {}  # site -> stops seen, to spot a read overtaken

    # --- events ---------------------------------------------------------------------------------
    def attach(self, bus: Any) -> None:
        bus.subscribe(TransactionStarted, lambda e: self._charger_changed(e.charge_point_id))
        bus.subscribe(TransactionStopped, self._stopped)
        bus.subscribe(ChargerBooted, self._booted)
        bus.subscribe(PowerMeasured, self._measured)
        bus.subscribe(NeedChanged, self._need_changed)
        bus.subscribe(SiteChanged, lambda e: self.placement_changed({e.site_id}))
        bus.subscribe(SiteMeterRead, self._meter_read)
        # A driver's priority, cap or defaults, or a deleted tag's need: wherever they charge.
        bus.subscribe(DriverChanged, lambda e: self._spawn(self.replan_all()))
        bus.subscribe(IdTagChanged, lambda e: self._spawn(self.replan_all()))

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
        if charger in self._placed:
            self._take_reading(event)
        elif charger in self._placing:
            self._placing[charger].append(event)
        else:
            self._placing[charger] = [event]
            self._spawn(self._place_then_take(charger))

    async def _place_then_take(self, charge_point_id: str) -> None:
        try:
            await self._place(charge_point_id)
        finally:
            for event in self._placing.pop(charge_point_id, []):
                self._take_reading(event)

    def _take_reading(self, event: PowerMeasured) -> None:
        charger = event.charge_point_id
        placed = self._placed.get(charger)
        if placed is None:
            return  # on no site: no plan uses its readings
        problem = reading_problem(
            event.power_w, event.register_wh, placed.max_w, self.reading_margin
        )
        if problem is not None:
            self._flag(
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
        key = (charger, event.connector_id)
        before = self._power.get(key)
        self._power[key] = (event.power_w, event.register_wh)
        self._remember(key, event.at, min(event.power_w, placed.max_w))
        if before is None or abs(before[0] - event.power_w) >= POWER_CHANGE_W:
            self.request_replan(placed.site_id)

    def _remember(self, key: tuple[str, int], at: datetime, watts: float) -> None:
        """Kept for METER_MAX_AGE, and the one before (in force at the window's start). A
        reading within the margin above the maximum counts as the maximum, as much as a
        real charger draws."""
        readings = self._readings.setdefault(key, [])
        bisect.insort(readings, (at, watts))
        cutoff = self._clock.now() - METER_MAX_AGE
        while len(readings) > 1 and readings[1][0] <= cutoff:
            del readings[0]

    def _note_raises(self, send: _Send) -> None:
        now = self._clock.now()
        raised = [
            (max(at, now), limit)
            for (at, limit), (_, previous) in zip(send.steps[1:], send.steps, strict=False)
            if limit > previous and at > now - METER_MAX_AGE
        ]
        kept = [r for r in self._raised.get(send.key, []) if r[0] > now - METER_MAX_AGE]
        self._raised[send.key] = sorted([*kept, (now, send.limit_w), *raised])

    def _stopped(self, event: TransactionStopped) -> None:
        # Its last reading would otherwise stay in force, and the building's load estimate
        # (the meter less the EVs) would lose what the departed car drew.
        self._remember((event.charge_point_id, event.connector_id), event.at, 0.0)
        self._ended_transactions[event.transaction_id] = None
        if len(self._ended_transactions) > ENDED_REMEMBERED:  # the oldest goes
            del self._ended_transactions[next(iter(self._ended_transactions))]
        self._spawn(self._replan_site_of(event.charge_point_id, history_changed=True))

    def _booted(self, event: ChargerBooted) -> None:
        self._capabilities.pop(event.charge_point_id, None)
        self._unit_guessed.discard(event.charge_point_id)
        for key in [key for key in self._held if key[0] == event.charge_point_id]:
            del self._held[key]  # a reboot ends its transactions and their profiles
        self._refusals.pop(event.charge_point_id, None)
        self._spawn(self._prepare_charger(event.charge_point_id))

    def placement_changed(self, site_ids: set[str | None]) -> None:
        """A charger was placed, moved or removed, or a site or circuit changed: fail-safe
        shares, chargers' bounds and plans change."""
        self._placed.clear()
        self._layouts.clear()
        self._site_changes += 1
        for site_id in site_ids - {None}:
            assert site_id is not None
            self.request_replan(site_id)

    def _charger_changed(self, charge_point_id: str) -> None:
        self._spawn(self._replan_site_of(charge_point_id))

    async def _replan_site_of(self, charge_point_id: str, history_changed: bool = False) -> None:
        placed = (  # read once: this runs on every start and stop
            self._placed[charge_point_id]
            if charge_point_id in self._placed
            else await self._place(charge_point_id)
        )
        if placed is not None:
            site_id = placed.site_id
            if history_changed:
                self._history.pop(site_id, None)
                self._history_stops[site_id] = self._history_stops.get(site_id, 0) + 1
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
            self._stop_if_over(site_plan)  # likewise
            await self._succeeded(site_id)
            return site_plan

    async def _plan_and_compile(self, site_id: str) -> tuple[SitePlan, _Dispatch]:
        started = time.perf_counter()
        layout = await self._layout(site_id)
        request, transactions = await self._request(layout)
        read = time.perf_counter()
        plan = await asyncio.to_thread(self._planner, request, time_budget_s=self.time_budget_s)
        site_plan = SitePlan(site_id, self._clock.now(), request, plan, transactions)
        planned = time.perf_counter()
        dispatch = await self._compile(site_plan, layout)
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

    async def _failed(self, site_id: str, error: Exception) -> SitePlan | None:
        """Keep the last good plan in force, say so on it, and alert (counted per failure)."""
        failure = ReplanFailure(_describe(error), self._clock.now())
        last = self._plans.get(site_id)
        if last is not None:
            last.failure = failure
        if self._failures.get(site_id) is None:  # the first failure: its traceback, once
            log.warning(
                "site %s: replan failed, keeping the last good plan", site_id, exc_info=error
            )
        self._failures[site_id] = failure
        kept = f"keeping the plan made at {last.made_at.isoformat()}" if last else "no plan to keep"
        with _logged_failure("could not record the alert"):
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
        with _logged_failure("could not resolve the alert"):
            await self._alerts.resolve(AlertKey(AlertKind.REPLAN_FAILED, site_id=site_id))

    async def _layout(self, site_id: str) -> SiteLayout:
        """Read once, until a SiteChanged: every replan needs it, few change it."""
        layout = self._layouts.get(site_id)
        if layout is None:
            changes = self._site_changes
            layout = await self._site_directory.layout(site_id)
            if changes == self._site_changes:  # else it may be older than the change
                self._layouts[site_id] = layout
        return layout

    def _forget(self, site_id: str) -> None:
        self._plans.pop(site_id, None)
        self._layouts.pop(site_id, None)
        self._meter_w.pop(site_id, None)
        if self._failures.pop(site_id, None) is not None:  # its failures went with it
            self._spawn(self._alerts.resolve(AlertKey(AlertKind.REPLAN_FAILED, site_id=site_id)))

    def current_plan(self, site_id: str) -> SitePlan | None:
        return self._plans.get(site_id)

    async def replan_all(self) -> None:
        """The timer's replan: prices, forecasts and departures move even when chargers don't;
        sites whose replan failed are retried."""
        for site_id in set(self._plans) | set(self._failures):
            self.request_replan(site_id)

    # --- building the request ----------------------------------------------------------------
    async def _request(
        self, layout: SiteLayout
    ) -> tuple[PlanRequest, dict[str, tuple[str, int, int]]]:
        site = layout.site
        now = self._clock.now()
        elapsed = now.timestamp() % self.slot_seconds  # of the slot we are in
        start = now - timedelta(seconds=elapsed)
        grid = SlotGrid(start, self.slot_seconds, self.horizon_slots, elapsed_seconds=elapsed)
        circuits = [Circuit(SITE, None, _finite(site.limit_w), site.grid_limit_a)]
        circuits += [
            Circuit(c.id, c.parent_id or SITE, c.max_power_w, c.max_current_a)
            for c in layout.circuits
        ]
        sessions: list[Session] = []
        transactions: dict[str, tuple[str, int, int]] = {}
        running = await self._running(layout, now)
        facts = await self._needs.resolve_all([t for t, _, _ in running], site)
        placements = {p.charge_point_id: p for p in layout.placements}
        for transaction, started_ok, max_w in running:
            placement = placements[transaction.charge_point_id]
            session = self._session(
                transaction, started_ok, facts[transaction.id], placement, site, grid, max_w
            )
            sessions.append(session)
            transactions[session.id] = (
                placement.charge_point_id,
                transaction.connector_id,
                transaction.id,
            )
        busy = Counter(charger for charger, _, _ in transactions.values())
        sessions += self._standby(layout, grid, busy)
        sessions += await self._expected(layout, grid, now) or self._prior(layout, grid, sessions)
        series = await self._series(layout, grid)
        request = PlanRequest(
            grid=grid,
            circuits=tuple(circuits),
            sessions=tuple(sessions),
            series=series,
            voltage=site.voltage,
            safety_margin=site.safety_margin,
        )
        return request, transactions

    async def _running(
        self, layout: SiteLayout, now: datetime
    ) -> list[tuple[Transaction, bool, float]]:
        """The site's running transactions in one read, charger by charger, newest first,
        with the most their charger can draw; one that claims an impossible start is taken
        as started now (False: flagged)."""
        site = layout.site
        placed = {
            p.charge_point_id: _Placed(site.id, self._physical_max_w(p, site))
            for p in layout.placements
        }
        self._placed.update(placed)  # their bounds, for readings (the site may change)
        order = {p.charge_point_id: i for i, p in enumerate(layout.placements)}
        active = await self._sessions.active_on(list(order))
        running = []
        for transaction in sorted(active, key=lambda t: (order[t.charge_point_id], -t.id)):
            problem = start_problem(transaction.started_at, now)
            if problem is not None:  # its need and departure are worked out from now instead
                self._flag_session(
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
        uncontrolled = self._uncontrolled(placement.charge_point_id)
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
        measured = self._power.get((transaction.charge_point_id, transaction.connector_id))
        if measured is None or measured[1] is None:
            return 0.0
        register_wh = measured[1]
        problem = register_problem(
            register_wh, transaction.meter_start, max_w, self.reading_margin, since_start
        )
        if problem is not None:
            self._flag_session(transaction, site_id, "register", f"{problem}; not counted")
            return 0.0
        return register_wh - transaction.meter_start

    def _standby(self, layout: SiteLayout, grid: SlotGrid, busy: dict[str, int]) -> list[Session]:
        """Free connectors that the plan cannot steer, reserved as uncontrollable draws: an
        uncontrolled charger's (its maximum), and those of a charger offline or refusing
        its fail-safe (the fail-safe it holds, drawn the moment a car plugs in). The others'
        fail-safes follow the plan (`_idle_fail_safes`) and need no room of their own.
        `busy`: connectors with a session, per charger."""
        standby = []
        for placement in layout.placements:
            charger = placement.charge_point_id
            if self._uncontrolled(charger):
                each = placement.max_power_w or DEFAULT_MAX_POWER_W
                free = 0 if busy.get(charger) else 1  # its maximum, whatever the connectors
            elif self._presence.is_connected(charger) and charger not in self._stuck:
                continue
            else:
                each = self._connector_fail_safe_w(charger) or 0.0
                free = self._capabilities[charger].connectors - busy.get(charger, 0) if each else 0
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

    def _connector_fail_safe_w(self, charge_point_id: str) -> float | None:
        """What one connector of the charger may draw under its fail-safe (None: none held)."""
        share = self._fail_safe_w.get(charge_point_id)
        capabilities = self._capabilities.get(charge_point_id)
        if share is None or capabilities is None:  # none installed yet, or it just rebooted
            return None
        return fail_safe_per_connector_w(share, capabilities)

    async def _expected(self, layout: SiteLayout, grid: SlotGrid, now: datetime) -> list[Session]:
        """The EVs the site's history says will arrive between now and the horizon's end."""
        if self._history_store is None:
            return []
        zone = zone_of(layout.site.time_zone)
        placements = {p.charge_point_id: p for p in layout.placements}
        past = [
            past_session(transaction, placements[transaction.charge_point_id], layout.site)
            for transaction in await self._recent_history(layout.site.id, now, zone)
            if transaction.charge_point_id in placements
            and self._plausible_history(transaction, placements, layout.site, now)
        ]
        history = [p for p in past if p.energy_wh > 0 and p.departure > p.arrival]
        expected = expected_sessions(
            history, now=now, horizon_end=grid.end, zone=zone, weeks=self.forecast_weeks
        )
        return list(expected)

    def _prior(
        self, layout: SiteLayout, grid: SlotGrid, present: Sequence[Session]
    ) -> list[Session]:
        """Without a forecast (no history, or forecasts off), the EVs the site's own chargers
        and the recent arrivals suggest (ADR 0007), as the benchmark's online planner does."""
        site = layout.site
        chargers = [
            Charger(p.circuit_id or SITE, self._physical_max_w(p, site), p.grid_phases(site.phases))
            for p in layout.placements
            for _ in range(getattr(self._capabilities.get(p.charge_point_id), "connectors", 1))
        ]
        return list(prior_sessions(chargers, present, grid))

    def _plausible_history(
        self, transaction: Transaction, placements: dict[str, Placement], site: Site, now: datetime
    ) -> bool:
        assert transaction.stopped_at is not None and transaction.meter_stop is not None
        max_w = self._physical_max_w(placements[transaction.charge_point_id], site)
        problem = finished_problem(
            transaction.started_at,
            transaction.stopped_at,
            transaction.meter_stop - transaction.meter_start,
            max_w,
            self.reading_margin,
            now,
        )
        if problem is not None:
            self._flag_session(transaction, site.id, "history", f"{problem}; left out of forecasts")
        return problem is None

    async def _recent_history(
        self, site_id: str, now: datetime, zone: ZoneInfo
    ) -> Sequence[Transaction]:
        cached = self._history.get(site_id)
        if cached is not None and now - cached[0] < HISTORY_MAX_AGE:
            return cached[1]
        assert self._history_store is not None
        since = history_start(now, zone, self.forecast_weeks)
        stops = self._history_stops.get(site_id, 0)
        transactions = await self._history_store.finished_at_site(site_id, since)
        if self._history_stops.get(site_id, 0) == stops:  # else a stop came during the read
            self._history[site_id] = (now, transactions)
        return transactions

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
        connectors = [
            Connector(readings, self._raised.get(key, ()))
            for key, readings in self._readings.items()
            if key[0] in chargers
        ]
        measured = base_load_w(meter, connectors)
        forecast = await series.resampled(site_id, SeriesKind.SOLAR_FORECAST, grid)
        sun_now = forecast[0] if measured is not None and forecast else 0.0
        base = (measured or 0.0) + sun_now  # the building's own draw, before today's sun
        self._note_building(site_id, base)
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

    # --- applying ---------------------------------------------------------------------------------
    async def _compile(self, site_plan: SitePlan, layout: SiteLayout) -> _Dispatch:
        """Every profile of the plan, compiled before any is sent (a plan that cannot be
        compiled changes nothing on the site) and split into the two waves: fail-safes and
        planned limits that go down, then those that go up. A session that has no profile yet
        draws under its connector's fail-safe: that is the limit its first profile raises or
        lowers. A rise at instants where no limit goes down is safe at once: it goes in the
        first wave (the lower of both where something does go down, then whole later)."""
        reductions: list[_Send] = []
        increases: list[_Send] = []
        await self._learn_capabilities([p.charge_point_id for p in layout.placements])
        static = self._fail_safe_targets(layout)
        targets = self._idle_fail_safes(layout, site_plan, static)
        lowered_anywhere = False  # a fail-safe binds a car plugging in at any time
        for charger, watts in self._fail_safe_changes(targets):
            capabilities = await self._capabilities_of(charger, wait_s=0.0)
            send = _Send(charger, 0, watts, fail_safe_profile(watts, capabilities))
            lowers = watts < self._fail_safe_before(charger)
            (reductions if lowers else increases).append(send)
            lowered_anywhere = lowered_anywhere or lowers
        since = self._clock.now().replace(microsecond=0)
        judged: list[tuple[_Send, Steps, ChargerCapabilities]] = []
        spans: list[tuple[datetime, datetime]] = []
        for command, capabilities in await self._commands(site_plan, static):
            key = (command.charge_point_id, command.connector_id)
            steps = profile_steps(command.profile, capabilities)
            send = _Send(*key, command.limit_now_w, command.profile, steps)
            held, certain = self._held_steps(key, command.profile.transaction_id, since)
            if held is None:  # unknown: it goes first, and may lower anything
                reductions.append(send)
                lowered_anywhere = True
                continue
            change = Change.of(steps, held, since)
            if change.lowers:
                spans += spans_where(steps, held, since, operator.lt)
            if change.lowers or change.raises or not certain:
                judged.append((send, held, capabilities))
            # else it holds this very profile already: nothing to send
        lowered = Lowered.everywhere() if lowered_anywhere else Lowered.of(spans)
        for send, held, capabilities in judged:
            self._order(send, held, since, lowered, capabilities, (reductions, increases))
        return _Dispatch(site_plan, reductions, increases)

    @staticmethod
    def _order(
        send: _Send,
        held: Steps,
        since: datetime,
        lowered: Lowered,
        capabilities: ChargerCapabilities,
        waves: tuple[list[_Send], list[_Send]],
    ) -> None:
        """Whole in the first wave when it raises nowhere that a limit goes down; else the
        lower of both there first (unless that is what it holds) and whole in the second."""
        first_wave, second_wave = waves
        if not lowered.meets(spans_where(send.steps, held, since, operator.gt)):
            first_wave.append(send)
            return
        first = lower_of(send.profile, held, since, capabilities, send.steps, lowered)
        first_steps = profile_steps(first, capabilities)
        if Change.of(first_steps, held, since) != Change(lowers=False, raises=False):
            first_wave.append(_Send(*send.key, steps_at(first_steps, since), first, first_steps))
        second_wave.append(send)

    def _held_steps(
        self, key: tuple[str, int], transaction_id: int | None, since: datetime
    ) -> tuple[Steps | None, bool]:
        """The most the connector may be allowed at each instant from `since` (None:
        unknown): its TxProfile for this transaction, else its fail-safe, and any send still
        on its way (it may apply it at any moment). True when it is certainly that one: a
        session always gets its own profile, as its connector's fail-safe follows the others'."""
        held = self._held.get(key)
        own = held is not None and held[0] == transaction_id
        if held is not None and own:
            candidates = list(held[1])
        else:
            each = self._connector_fail_safe_w(key[0])
            if each is None:
                return None, False
            candidates = [constant_steps(each)]
        flight = self._in_flight.get(key)
        if flight is not None:
            candidates.append(flight[1].steps)
        return highest_steps(candidates, since), own and len(candidates) == 1

    def _fail_safe_before(self, charger: str) -> float:
        """What the charger's fail-safe may be (inf: unknown): the last it accepted, or a
        higher one still on its way to it (it may apply that one at any moment)."""
        before = self._fail_safe_w.get(charger, math.inf)
        flight = self._in_flight.get((charger, 0))
        return max(before, flight[1].limit_w) if flight is not None else before

    def _start_dispatch(self, site_id: str, dispatch: _Dispatch) -> None:
        """Sending happens outside the site's lock: a newer plan's dispatch replaces one
        still running (its second wave is then never sent)."""
        state = self._sites[site_id]
        if state.dispatch is not None:
            state.dispatch.cancel()
        state.dispatch = self._spawn(self._dispatch(dispatch))

    async def _dispatch(self, dispatch: _Dispatch) -> None:
        """Reductions first, all at once; the increases only when every reduction was
        confirmed within the deadline: the headroom they use may still be drawn elsewhere.
        A charger found silent is in neither (`_learn_capabilities` probes it): the plan
        counts its maximum, and waiting for it would withhold the increases every time."""
        if await self._wave(dispatch.site_plan, dispatch.reductions):
            await self._wave(dispatch.site_plan, dispatch.increases)
        else:
            site_id = dispatch.site_plan.site_id
            log.warning(
                "site %s: %d increases withheld until every reduction is confirmed",
                site_id,
                len(dispatch.increases),
            )
            dispatch.site_plan.alerts.append(
                "increases withheld: a charger did not confirm its reduction"
            )

    async def _wave(self, site_plan: SitePlan, sends: list[_Send]) -> bool:
        """Send all at once and wait at most the profile deadline; True when every charger
        confirmed (or no longer has the session). The silent ones are alerted and replanned."""
        if not sends:
            return True
        tasks = {self._send(site_plan, send): send for send in sends}
        done, pending = await asyncio.wait(tasks, timeout=self.profile_deadline_s)
        for task in pending:
            self._late.add(task)
            await self._silent(tasks[task], site_plan.site_id)
        if pending:
            self._retry_later(site_plan.site_id)
        return not pending and all(
            not task.cancelled() and task.result() is not _Outcome.REFUSED for task in done
        )

    def _send(self, site_plan: SitePlan, send: _Send) -> asyncio.Task[_Outcome]:
        """Supersedes a send to the same connector still in flight (its answer would only
        say what is no longer meant)."""
        old = self._in_flight.pop(send.key, None)
        if old is not None:
            old[0].cancel()
        task = asyncio.get_running_loop().create_task(self._install(site_plan, send))
        self._in_flight[send.key] = (task, send)
        self._tasks.add(task)
        task.add_done_callback(self._sent)
        return task

    def _sent(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        self._late.discard(task)

    def _current(self, send: _Send) -> bool:
        flight = self._in_flight.get(send.key)
        return flight is not None and flight[0] is asyncio.current_task()

    async def _install(self, site_plan: SitePlan, send: _Send) -> _Outcome:
        charger, connector = send.key
        try:
            if self._ended(send.profile):  # not sent: the charger would only refuse it
                return self._settled(send, _Outcome.GONE)
            answer = await self._chargers.set_charging_profile(charger, connector, send.profile)
            accepted = answer.status is ProfileStatus.ACCEPTED
            if not accepted and self._ended(send.profile):  # ended while on its way
                return self._settled(send, _Outcome.GONE)
        except Conflict as error:  # offline: not a refusal
            log.info("%s: plan not applied: %s", charger, error)
            return self._settled(send, _Outcome.GONE)
        except CommandTimeout as error:  # alerted at the deadline already
            log.info("%s: %s", charger, error)
            self._answering[charger] = False  # probed beside the waves until it answers
            return self._settled(send, _Outcome.SILENT)
        except DomainError as error:
            log.warning("%s: SetChargingProfile failed: %s", charger, error)
            accepted = False
        await self._answered(charger, site_plan.site_id)
        if accepted:
            if self._current(send):
                if connector:  # a fail-safe accepted says nothing of its TxProfiles
                    self._held[send.key] = (send.profile.transaction_id, (send.steps,))
                    self._note_raises(send)
                    self._obeys(charger, site_plan.site_id)
                else:
                    self._fail_safe_w[charger] = send.limit_w
                    self._stuck.discard(charger)
            return self._settled(send, _Outcome.ACCEPTED)
        if not connector:  # as before: logged, retried while its share differs
            log.warning("%s: fail-safe profile refused", charger)
            self._stuck.add(charger)  # planned around the one it holds
            self._try_other_unit(charger)
            return self._settled(send, _Outcome.GONE)
        self._refused(site_plan, charger, connector)
        return self._settled(send, _Outcome.REFUSED)

    def _ended(self, profile: ChargingProfile) -> bool:
        return profile.transaction_id in self._ended_transactions

    def _settled(self, send: _Send, outcome: _Outcome) -> _Outcome:
        """Past the deadline, an answer (or the command's timeout) asks for a replan: the
        increases that waited for it, or another try."""
        if self._current(send):
            del self._in_flight[send.key]
        if asyncio.current_task() in self._late:
            placed = self._placed.get(send.charge_point_id)
            if placed is not None:
                self.request_replan(placed.site_id)
        return outcome

    def _refused(self, site_plan: SitePlan, charger: str, connector: int) -> None:
        if self._try_other_unit(charger):
            self.request_replan(site_plan.site_id)
            return
        self._refusals[charger] = self._refusals.get(charger, 0) + 1
        site_plan.alerts.append(f"{charger} connector {connector} refused its charging profile")
        if self._refusals[charger] == REFUSALS_BEFORE_EXCLUDED:
            log.warning("%s keeps refusing profiles: planning it at full power", charger)
            self._flag(
                AlertKey(AlertKind.CHARGER_REFUSES_PROFILES, charger, site_plan.site_id),
                f"{charger} refuses its charging profiles: planned at its maximum power, "
                "and the other chargers' fail-safes leave room for it",
                {"connector_id": connector},
            )
        self.request_replan(site_plan.site_id)  # retry; past the limit, plan around it

    def _obeys(self, charger: str, site_id: str) -> None:
        if self._refusals.pop(charger, 0) >= REFUSALS_BEFORE_EXCLUDED:
            key = AlertKey(AlertKind.CHARGER_REFUSES_PROFILES, charger, site_id)
            self._spawn(self._alerts.resolve(key))

    async def _silent(self, send: _Send, site_id: str) -> None:
        """Until it answers, the charger may hold either its old profile or the new one: the
        higher counts at every instant, so its next profile is a reduction where it lowers."""
        charger = send.charge_point_id
        if send.connector_id:
            self._may_hold(send)
        self._answering[charger] = False
        with _logged_failure("could not record the alert"):
            await self._alerts.raise_alert(
                AlertKey(AlertKind.CHARGER_SILENT, charger, site_id),
                f"{charger} did not answer its charging profile within "
                f"{self.profile_deadline_s:g} s; retried at the next replan",
                details={"connector_id": send.connector_id, "limit_w": send.limit_w},
            )

    def _may_hold(self, send: _Send) -> None:
        """An unanswered TxProfile joins what the connector may hold."""
        transaction_id = send.profile.transaction_id
        held = self._held.get(send.key)
        if held is not None and held[0] == transaction_id:
            self._held[send.key] = (transaction_id, (*held[1], send.steps))
            return
        each = self._connector_fail_safe_w(send.charge_point_id)
        if each is not None:  # unknown stays unknown
            self._held[send.key] = (transaction_id, (constant_steps(each), send.steps))

    async def _answered(self, charger: str, site_id: str) -> None:
        """Resolve its CHARGER_SILENT alert on the way back (after a restart, once)."""
        if self._answering.get(charger):
            return
        if self._answering.get(charger) is False:  # back: planned as controllable again
            self.request_replan(site_id)
        self._answering[charger] = True
        with _logged_failure("could not resolve the alert"):
            await self._alerts.resolve(AlertKey(AlertKind.CHARGER_SILENT, charger, site_id))

    def _retry_later(self, site_id: str) -> None:
        """A silent charger is retried by a replan soon, not only by the next timed one."""
        self._spawn(self._after(self.profile_deadline_s, site_id))

    async def _after(self, delay_s: float, site_id: str) -> None:
        await asyncio.sleep(delay_s)
        self.request_replan(site_id)

    async def _commands(
        self, site_plan: SitePlan, fail_safes: dict[str, float]
    ) -> list[tuple[ProfileCommand, ChargerCapabilities]]:
        """A TxProfile per session; after the plan's horizon each holds its connector's
        share of the static fail-safe (`fail_safes`): the charger does not fall back to its
        TxDefaultProfile by itself, and with every idle connector's dynamic fail-safe at
        most its static share, all of them together stay within the site."""
        plan, now = site_plan.plan, self._clock.now()
        commands = []
        for session_id, (charger, connector, transaction_id) in site_plan.transactions.items():
            if self._refusals.get(charger, 0) >= REFUSALS_BEFORE_EXCLUDED:
                site_plan.alerts.append(
                    f"{charger} refuses charging profiles: planned at its maximum power"
                )
                continue
            if self._answering.get(charger) is False:
                site_plan.alerts.append(
                    f"{charger} does not answer charging profiles: planned at its maximum power"
                )
                continue
            capabilities = await self._capabilities_of(charger, wait_s=0.0)
            after = fail_safe_per_connector_w(fail_safes.get(charger, 0.0), capabilities)
            profile = tx_profile(plan, session_id, transaction_id, connector, capabilities, after)
            limit = limit_now_w(plan, session_id, now)
            commands.append((ProfileCommand(charger, connector, profile, limit), capabilities))
        return commands

    def _uncontrolled(self, charger: str) -> bool:
        """Refusing or silent: it may draw whatever it last held, so the plan counts its
        maximum and the others share what is left."""
        refusing = self._refusals.get(charger, 0) >= REFUSALS_BEFORE_EXCLUDED
        return refusing or self._answering.get(charger) is False

    def _uncontrolled_w(self, layout: SiteLayout) -> dict[str, float]:
        """The chargers planned at their maximum, with it: the others' fail-safes leave it."""
        return {
            p.charge_point_id: p.max_power_w or DEFAULT_MAX_POWER_W
            for p in layout.placements
            if self._uncontrolled(p.charge_point_id)
        }

    def _fail_safe_targets(self, layout: SiteLayout) -> dict[str, float]:
        """The fail-safe share each charger should hold; none for the uncontrolled ones
        (planned at their maximum meanwhile)."""
        uncontrolled = self._uncontrolled_w(layout)
        building = self._building_reserve_w(layout.site.id)
        loads = _CircuitLoads(layout, uncontrolled)  # counted once: this runs every compile
        return {
            placement.charge_point_id: loads.share_w(placement, building)
            for placement in layout.placements
            if placement.charge_point_id not in uncontrolled
        }

    def _note_building(self, site_id: str, watts: float) -> None:
        """Kept for `BUILDING_RESERVE_WINDOW`, newest last: the highest is the reserve."""
        now = self._clock.now()
        seen = [(at, w) for at, w in self._building.get(site_id, []) if w > watts]
        self._building[site_id] = [
            *((at, w) for at, w in seen if now - at < BUILDING_RESERVE_WINDOW),
            (now, watts),
        ]

    def _building_reserve_w(self, site_id: str) -> float:
        """What the fail-safes leave for the building: the most it drew over the last day.
        With AmpNexus unreachable nothing follows the building, and a fail-safe must hold
        for as long as that lasts (a night, or a 30-hour outage)."""
        return max((w for _, w in self._building.get(site_id, [])), default=0.0)

    def _idle_fail_safes(
        self, layout: SiteLayout, site_plan: SitePlan, static: dict[str, float]
    ) -> dict[str, float]:
        """Each charger's fail-safe, dynamic: what the plan leaves free for its free
        connectors (`idle_room_w`), at most its static share, floored to 100 W per
        connector so that small moves of the plan do not resend it; 0 when it has no free
        connector (a car leaving brings a replan that raises it)."""
        busy = Counter(charger for charger, _, _ in site_plan.transactions.values())
        idle = []
        for placement in layout.placements:
            charger = placement.charge_point_id
            capabilities = self._capabilities.get(charger)
            free = (capabilities.connectors if capabilities else 1) - busy.get(charger, 0)
            if charger in static and free > 0:
                circuit = placement.circuit_id or SITE
                phases = placement.grid_phases(layout.site.phases)
                idle.append(IdleConnectors(charger, circuit, phases, free))
        room = idle_room_w(site_plan.request, site_plan.plan, idle)
        targets = {}
        for charger, share in static.items():
            capabilities = self._capabilities.get(charger)
            connectors = capabilities.connectors if capabilities else 1
            each = math.floor(room.get(charger, 0.0) / 100.0) * 100.0 if charger in room else 0.0
            targets[charger] = min(share, each * connectors)
        self._idle_w.update(targets)
        return targets

    def _fail_safe_changes(self, targets: dict[str, float]) -> list[tuple[str, float]]:
        """Every connected charger whose fail-safe share changed (chargers were added, moved
        or removed, a limit changed, or a charger stopped or started obeying)."""
        return [
            (charger, watts)
            for charger, watts in targets.items()
            if self._presence.is_connected(charger) and self._fail_safe_w.get(charger) != watts
        ]

    async def _install_fail_safe(self, charge_point_id: str, watts: float) -> None:
        capabilities = await self._capabilities_of(charge_point_id)
        try:
            answer = await self._chargers.set_charging_profile(
                charge_point_id, 0, fail_safe_profile(watts, capabilities)
            )
        except DomainError as error:
            log.warning("%s: fail-safe profile not installed: %s", charge_point_id, error)
            return
        if answer.status is ProfileStatus.ACCEPTED:
            self._fail_safe_w[charge_point_id] = watts
            self._stuck.discard(charge_point_id)
        else:  # the replan that follows sends it again, in the other unit if guessed
            self._stuck.add(charge_point_id)
            self._try_other_unit(charge_point_id)

    # --- site safety ---------------------------------------------------------------------------
    def _stop_if_over(self, site_plan: SitePlan) -> None:
        """The last resort (ADR 0003, site safety): when the building and the sessions no
        profile can lower exceed the site's or a circuit's limit even with every other
        charger at 0, stop the sessions of chargers that refuse profiles, largest first,
        until it fits. A silent charger would not hear it: it stays reserved at its most."""
        stops = _sessions_to_stop(site_plan.request, self._fixed_draws(site_plan))
        if not stops:
            return
        for draw in stops:
            self._stopping[draw.transaction_id] = asyncio.get_running_loop().time()
            site_plan.alerts.append(
                f"{draw.charge_point_id} refuses profiles and may draw {draw.watts:.0f} W: "
                f"stopping transaction {draw.transaction_id} to keep the site within its limit"
            )
        state = self._sites[site_plan.site_id]
        state.stopping = [t for t in state.stopping if not t.done()]
        state.stopping.append(
            self._spawn(asyncio.gather(*(self._stop(site_plan.site_id, d) for d in stops)))
        )

    def _fixed_draws(self, site_plan: SitePlan) -> list[_Draw]:
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
            placed = self._placed.get(charger)
            most = placed.max_w if placed is not None else session.max_power_w
            held, _ = self._held_steps((charger, connector), transaction_id, since)
            if held:
                most = min(most, max(watts for _, watts in held))
            stoppable = self._answering.get(charger) is not False and self._presence.is_connected(
                charger
            )
            draws.append(_Draw(session, charger, transaction_id, most, stoppable))
        return draws

    async def _stop(self, site_id: str, draw: _Draw) -> None:
        """RemoteStopTransaction, and a critical alert on the charger either way."""
        charger, transaction_id = draw.charge_point_id, draw.transaction_id
        try:
            answer = await self._chargers.remote_stop(charger, transaction_id)
            problem = None if answer.status is Acceptance.ACCEPTED else "it answered Rejected"
        except DomainError as error:
            problem = _describe(error)
        if problem is None:
            done = f"transaction {transaction_id} stopped"
        else:  # asked again at the next replan
            self._stopping.pop(transaction_id, None)
            done = f"transaction {transaction_id} could not be stopped ({problem})"
        log.warning("%s: %s to keep site %s within its limit", charger, done, site_id)
        with _logged_failure("could not record the alert"):
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

    # --- chargers ------------------------------------------------------------------------------
    async def _prepare_charger(self, charge_point_id: str) -> None:
        """After a boot: learn what profiles it takes, give it its fail-safe at once (a
        rebooted charger may have lost it), then replan its site."""
        self._fail_safe_w.pop(charge_point_id, None)
        placement = await self._placement(charge_point_id)
        if placement is None or placement.site_id is None:
            return
        layout = await self._layout(placement.site_id)
        share = fail_safe_share_w(
            layout,
            placement,
            self._uncontrolled_w(layout),
            self._building_reserve_w(placement.site_id),
        )
        if placement.site_id in self._plans:  # the plan leaves it only so much (or nothing yet)
            share = min(share, self._idle_w.get(charge_point_id, 0.0))
        await self._install_fail_safe(charge_point_id, share)
        self.request_replan(placement.site_id)

    async def _learn_capabilities(self, charge_point_ids: Sequence[str]) -> None:
        """Ask every connected charger whose keys are not known yet, all at once, and wait at
        most `KEYS_WAIT_S`: a compile runs under the site's lock, and one silent charger
        asked in turn held every other charger's profile for the whole profile deadline.
        Its defaults serve meanwhile; its late answer brings a replan. A charger found
        silent is asked again each time (the probe that finds it back) but not waited for."""
        asked = [  # not again for a read still pending from an earlier compile
            charger
            for charger in charge_point_ids
            if charger not in self._reading_keys
            and (charger not in self._capabilities or self._answering.get(charger) is False)
            and self._presence.is_connected(charger)
        ]
        reads = [self._reading(charger) for charger in asked]
        waited = [
            r for c, r in zip(asked, reads, strict=True) if self._answering.get(c) is not False
        ]
        if waited:
            await asyncio.wait(waited, timeout=KEYS_WAIT_S)

    async def _capabilities_of(
        self, charge_point_id: str, wait_s: float | None = None
    ) -> ChargerCapabilities:
        """Read once (at boot, normally), waiting at most `wait_s` (default: the profile
        deadline); meanwhile the defaults serve, and the read caches the real ones when the
        charger answers."""
        wait_s = self.profile_deadline_s if wait_s is None else wait_s
        if charge_point_id not in self._capabilities and wait_s > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._reading(charge_point_id)), wait_s)
        known = self._capabilities.get(charge_point_id)  # cached only from an answer
        return known or capabilities_from({}, await self._phases(charge_point_id))

    def _reading(self, charge_point_id: str) -> asyncio.Task[ChargerCapabilities]:
        """The charger's smart-charging keys being read (one read at a time)."""
        reading = self._reading_keys.get(charge_point_id)
        if reading is None:
            reading = asyncio.get_running_loop().create_task(
                self._read_capabilities(charge_point_id)
            )
            self._reading_keys[charge_point_id] = reading
            self._tasks.add(reading)
            reading.add_done_callback(lambda task: self._read_done(charge_point_id, task))
        return reading

    def _read_done(self, charge_point_id: str, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if self._reading_keys.get(charge_point_id) is task:
            del self._reading_keys[charge_point_id]
        placed = self._placed.get(charge_point_id)
        answered = charge_point_id in self._capabilities
        if answered and placed is not None and not task.cancelled():
            self.request_replan(placed.site_id)  # its real units, if a compile went without

    async def _phases(self, charge_point_id: str) -> int:
        placement = await self._placement(charge_point_id)
        return (placement.phases if placement else None) or 3

    async def _read_capabilities(self, charge_point_id: str) -> ChargerCapabilities:
        """Cached only from the charger's own answer: defaults cached because it was not
        connected yet sent A profiles to a W-only charger until it rebooted."""
        phases = await self._phases(charge_point_id)
        try:
            read = await self._chargers.get_configuration(charge_point_id, CAPABILITY_KEYS)
        except DomainError as error:
            log.warning("%s: could not read smart charging keys: %s", charge_point_id, error)
            return capabilities_from({}, phases)  # for now; asked again next time
        values = read.values
        capabilities = capabilities_from(values, phases)
        self._capabilities[charge_point_id] = capabilities
        placed = self._placed.get(charge_point_id)
        if self._answering.get(charge_point_id) is False and placed is not None:
            await self._answered(charge_point_id, placed.site_id)  # a silent one is back
        if "ChargingScheduleAllowedChargingRateUnit" not in values:
            self._unit_guessed.add(charge_point_id)
        return capabilities

    def _try_other_unit(self, charge_point_id: str) -> bool:
        """A charger that did not say which unit it takes and refused a profile gets the other
        unit once before the refusal counts (OCPP 1.6 gives no reason for a refusal)."""
        known = self._capabilities.get(charge_point_id)
        if known is None or charge_point_id not in self._unit_guessed:
            return False
        self._unit_guessed.discard(charge_point_id)
        other = ChargingRateUnit.A if known.unit is ChargingRateUnit.W else ChargingRateUnit.W
        self._capabilities[charge_point_id] = replace(known, units=(other,))
        log.info("%s refused a profile in %s: trying %s", charge_point_id, known.unit, other)
        return True

    async def _place(self, charge_point_id: str) -> _Placed | None:
        """Read (and remember) the charger's site and the most it can draw there."""
        placed = None
        placement = await self._placement(charge_point_id)
        if placement is not None and placement.site_id is not None:
            with contextlib.suppress(NotFound):  # the site was deleted meanwhile
                site: Site = await self._site_directory.get(placement.site_id)
                placed = _Placed(site.id, self._physical_max_w(placement, site))
        self._placed[charge_point_id] = placed
        return placed

    @staticmethod
    def _physical_max_w(placement: Placement, site: Site) -> float:
        phases = len(placement.grid_phases(site.phases))
        return physical_max_w(placement.max_power_w, phases, site.voltage)

    # --- flags --------------------------------------------------------------------------------
    def _flag_session(
        self, transaction: Transaction, site_id: str, check: str, problem: str
    ) -> None:
        """Alert once per transaction and check: replans see the same session again and again."""
        if (transaction.id, check) in self._flagged:
            return
        self._flagged.add((transaction.id, check))
        charger = transaction.charge_point_id
        self._flag(
            AlertKey(AlertKind.IMPLAUSIBLE_SESSION, charger, site_id),
            f"transaction {transaction.id} on {charger}: {problem}",
            {"transaction_id": transaction.id, "check": check},
        )

    def _flag(self, key: AlertKey, message: str, details: dict[str, Any]) -> None:
        """Raised in the background: neither a reading nor a replan waits for the database."""
        self._spawn(self._alerts.raise_alert(key, message, details=details))

    async def _placement(self, charge_point_id: str) -> Placement | None:
        try:
            placement: Placement = await self._site_directory.placement(charge_point_id)
        except DomainError:
            return None
        return placement

    def _spawn(self, coroutine: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(_logged(coroutine))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def _logged(coroutine: Any) -> None:
    try:
        await coroutine
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("smart charging task failed")


def capabilities_from(values: dict[str, str], phases: int) -> ChargerCapabilities:
    """ChargerCapabilities from GetConfiguration values; missing or odd values keep defaults,
    and impossible ones are raised to the least that works (a negative stack level would make
    every profile of the site's plan invalid)."""
    units_text = values.get("ChargingScheduleAllowedChargingRateUnit", "Current")
    units = tuple(
        unit
        for word, unit in (("Current", ChargingRateUnit.A), ("Power", ChargingRateUnit.W))
        if word in units_text
    ) or (ChargingRateUnit.A,)
    defaults = ChargerCapabilities()
    return ChargerCapabilities(
        max_periods=max(1, _int(values.get("ChargingScheduleMaxPeriods"), defaults.max_periods)),
        units=units,
        max_stack_level=max(
            0, _int(values.get("ChargeProfileMaxStackLevel"), defaults.max_stack_level)
        ),
        phases=phases,
        connectors=max(1, _int(values.get("NumberOfConnectors"), defaults.connectors)),
    )


def fail_safe_share_w(
    layout: SiteLayout,
    placement: Placement,
    uncontrolled: Mapping[str, float] | None = None,
    building_w: float = 0.0,
) -> float:
    """The power each charger may draw with AmpNexus unreachable: on every circuit from the
    charger up to the grid connection, that circuit's limit split equally among all chargers
    below it; the smallest share wins. Below the 6 A minimum it becomes 0 (no charging).
    `uncontrolled`: chargers that may draw their maximum whatever they are told (refusing or
    silent), with that maximum; each circuit's limit less theirs is split among the rest.
    `building_w`: what the site's own load may draw meanwhile, off the grid connection."""
    return _CircuitLoads(layout, uncontrolled or {}).share_w(placement, building_w)


def _sessions_to_stop(request: PlanRequest, draws: Sequence[_Draw]) -> list[_Draw]:
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

    left, stopped = list(draws), list[_Draw]()
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


def _overloaded(circuit: Circuit, draws: list[_Draw], fixed_w: float, voltage: float) -> bool:
    """Over its power limit, or its current limit on a phase (`fixed_w` spread on three)."""
    power_w = fixed_w + sum(d.watts for d in draws)
    if circuit.max_power_w is not None and power_w > circuit.max_power_w:
        return True
    limit_a = circuit.max_current_a
    return limit_a is not None and any(
        (fixed_w / 3 + _phase_w(draws, phase)) / voltage > limit_a for phase in (1, 2, 3)
    )


def _phase_w(draws: list[_Draw], phase: int) -> float:
    return sum(d.watts / len(d.session.phases) for d in draws if phase in d.session.phases)


def _at(values: Sequence[float], t: int) -> float:
    return values[t] if t < len(values) else 0.0


class _CircuitLoads:
    """Per circuit (None: the grid connection), how many steerable chargers hang below it
    and what the uncontrolled ones below it take: counted once for all chargers' shares."""

    def __init__(self, layout: SiteLayout, uncontrolled: Mapping[str, float]) -> None:
        self.site = layout.site
        self.by_id = {c.id: c for c in layout.circuits}
        self.below: dict[str | None, int] = {}
        self.taken: dict[str | None, float] = {}
        for other in layout.placements:
            drawn = uncontrolled.get(other.charge_point_id)
            circuit_id = other.circuit_id
            while True:
                if drawn is None:
                    self.below[circuit_id] = self.below.get(circuit_id, 0) + 1
                else:
                    self.taken[circuit_id] = self.taken.get(circuit_id, 0.0) + drawn
                if circuit_id is None:
                    break
                circuit_id = self.by_id[circuit_id].parent_id if circuit_id in self.by_id else None

    def _split(self, limit: float, circuit_id: str | None) -> float:
        free = max(0.0, limit - self.taken.get(circuit_id, 0.0))
        return free / max(1, self.below.get(circuit_id, 1))

    def share_w(self, placement: Placement, building_w: float) -> float:
        site = self.site
        phases = len(placement.grid_phases(site.phases))
        share = self._split(site.limit_w - building_w, None)  # inf when the site has no limit
        circuit_id = placement.circuit_id
        while circuit_id is not None and circuit_id in self.by_id:
            circuit = self.by_id[circuit_id]
            limits = [
                circuit.max_power_w,
                circuit.max_current_a * site.voltage * phases if circuit.max_current_a else None,
            ]
            for limit in limits:
                if limit is not None:
                    share = min(share, self._split(limit, circuit_id))
            circuit_id = circuit.parent_id
        share = min(share, placement.max_power_w or DEFAULT_MAX_POWER_W)
        minimum = convert(
            MIN_CURRENT_A, ChargingRateUnit.A, ChargingRateUnit.W, phases, site.voltage
        )
        return share if share >= minimum else 0.0


def past_session(transaction: Transaction, placement: Placement, site: Site) -> PastSession:
    """A finished transaction as the forecast sees it, on the charger's present placement:
    energy from its meter readings, departure when it stopped (the EV may have stayed
    plugged in longer; that is not recorded)."""
    assert transaction.stopped_at is not None and transaction.meter_stop is not None
    return PastSession(
        id=f"tx{transaction.id}",
        circuit_id=placement.circuit_id or SITE,
        arrival=transaction.started_at,
        departure=transaction.stopped_at,
        energy_wh=float(transaction.meter_stop - transaction.meter_start),
        max_power_w=placement.max_power_w or DEFAULT_MAX_POWER_W,
        phases=placement.grid_phases(site.phases),
    )


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[:ERROR_CHARS]


def _json_number(value: float | None) -> float | str | None:
    """NaN and infinities are no JSON numbers: kept as text."""
    return value if value is None or math.isfinite(value) else str(value)


@contextlib.contextmanager
def _logged_failure(what: str) -> Iterator[None]:
    """A failing alert store must not turn a replan's outcome into an error."""
    try:
        yield
    except Exception:
        log.exception(what)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default
