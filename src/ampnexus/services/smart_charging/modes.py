"""What each charger's mode makes smart charging do (ADR 0009, Enforcement).

- Regulation and schedule chargers hold a ChargePointMaxProfile (`charge_point_max_profile`)
  that is 0 in every blocked interval of the next 8 days: the charger keeps to its mode even
  if AmpNexus never speaks to it again. Re-issued when the mode changes, after a boot, and
  at least daily so it always covers 7 days or more; the delays it holds are drawn from a
  keyed hash, so a re-issue changes none already drawn. While a session with the owner's
  override (`charge_now`) runs, it is permissive (the charger's maximum) instead.
- A regulation charger's fail-safe TxDefaultProfile holds a random start delay, redrawn
  after each session start; the session is blocked until its start plus the delay held.
- A user-controlled charger's fail-safe is 0, and its sessions are blocked unless started
  through the API.
- The planner's sessions and TxProfiles are blocked in the same intervals (`SessionRule`).
- While the site provides demand response (an opted-in event directing its EV load), no
  random delay applies: not at a session's start, a window's end or a rise of the rate
  inside the event, nor in the fail-safe meanwhile (ADR 0012). The rise at the event's end
  waits its delay: every site of the program would rise at that instant.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from ampnexus.charging.compiler import MODE_PROFILE_ID, charge_point_max_profile, lower_of
from ampnexus.domain.charging_mode import (
    DEFAULT_MODE,
    ChargingMode,
    EffectiveMode,
    ModeSource,
    RegulationSettings,
    ScheduleSettings,
)
from ampnexus.domain.charging_profile import ProfileStatus
from ampnexus.domain.commands import ProfileFilter
from ampnexus.domain.demand_response import DelaySpan, exempt_at
from ampnexus.domain.errors import DomainError
from ampnexus.domain.mode_enforcement import (
    ENFORCED_DAYS,
    DelayDraw,
    Interval,
    blocked_intervals,
    complement,
    joined,
)
from ampnexus.domain.site import SiteLayout
from ampnexus.domain.time import Clock
from ampnexus.domain.transaction import Transaction
from ampnexus.services.planning_ports import (
    ChargerModes,
    ChargerPresence,
    DemandResponseLimits,
)
from ampnexus.services.ports import ChargerCommands
from ampnexus.services.smart_charging.capabilities import ChargerKeys
from ampnexus.services.smart_charging.ceilings import OperatorCeilings
from ampnexus.services.smart_charging.model import DEFAULT_MAX_POWER_W, SessionRule, log

REISSUE_AFTER = timedelta(days=1)  # the held profile then still covers 7 days
WINDOWS_KEPT = timedelta(minutes=10)  # a charger's intervals are recomputed this often
FAR = timedelta(days=3650)  # "for as long as the session lasts"
# Rises of a regulation session's rate are events on this grid (its delay is drawn per
# quarter hour), the planner's slot.
RISE_EVENT_MINUTES = 15
HELD_MODES = (ChargingMode.REGULATION_COMPLIANCE, ChargingMode.SCHEDULE)


@dataclass(frozen=True, slots=True)
class _Held:
    """The mode profile a charger last accepted: what it was made from, and when."""

    signature: tuple[object, ...]
    at: datetime


class ModeRules:
    def __init__(
        self,
        *,
        modes: ChargerModes | None,
        commands: ChargerCommands,
        presence: ChargerPresence,
        clock: Clock,
        keys: ChargerKeys,
        delays: DelayDraw | None = None,
        ceilings: OperatorCeilings | None = None,
        demand_response: DemandResponseLimits | None = None,
    ) -> None:
        """`demand_response`: when each site provides demand response (None: never)."""
        self._modes = modes
        self._demand_response = demand_response
        self._ceilings = ceilings or OperatorCeilings(None, clock)
        self._chargers = commands
        self._presence = presence
        self._clock = clock
        self._keys = keys
        self.delays = delays or DelayDraw()
        self._site_modes: dict[str, dict[str, EffectiveMode]] = {}  # site -> charger -> mode
        self._mode_changes = 0  # counts `changed` calls: a read they overtook is not kept
        # charger -> (mode, exempt spans, when, its blocked intervals)
        self._windows: dict[str, tuple[EffectiveMode, list[Interval], datetime, list[Interval]]]
        self._windows = {}
        self._next_start: dict[str, str] = {}  # charger -> the event its next delay is for
        # charger -> start delay its fail-safe holds (None: none, for demand response)
        self._held_delay: dict[str, int | None] = {}
        self._exempt_zero: set[str] = set()  # chargers asked to hold none, for demand response
        self._session_delay: dict[int, int] = {}  # transaction -> the delay it started with
        self._held: dict[str, _Held] = {}  # charger -> its mode profile

    # --- which mode -----------------------------------------------------------------------------
    async def of_site(self, layout: SiteLayout) -> dict[str, EffectiveMode]:
        """Every charger's effective mode, read in one query and kept until a mode or the
        site changes."""
        site = layout.site
        known = self._site_modes.get(site.id)
        chargers = [p.charge_point_id for p in layout.placements]
        if known is not None and set(known) >= set(chargers):
            return known
        found: dict[str, EffectiveMode] = {}
        changes = self._mode_changes
        if self._modes is not None:
            found = dict(await self._modes.effective_on_site(site.id, site.default_mode, chargers))
        for charger in chargers:  # not registered (yet): smart, as before modes existed
            found.setdefault(
                charger, EffectiveMode(charger, DEFAULT_MODE, None, ModeSource.DEFAULT)
            )
        if changes == self._mode_changes:  # else a mode changed while we read: not kept
            self._site_modes[site.id] = found
        return found

    def changed(self, site_id: str | None = None) -> None:
        """A mode changed (None: somewhere): read again at the next replan."""
        self._mode_changes += 1
        if site_id is None:
            self._site_modes.clear()
        else:
            self._site_modes.pop(site_id, None)

    def operator_changed(self, charge_point_id: str) -> None:
        """An operator's profile came or went: the mode profile is made again under it."""
        self._held.pop(charge_point_id, None)

    def booted(self, charge_point_id: str) -> None:
        self._held.pop(charge_point_id, None)  # held or not, it is sent again
        self._held_delay.pop(charge_point_id, None)

    # --- blocked time ---------------------------------------------------------------------------
    def exempt(self, site_id: str | None) -> tuple[DelaySpan, ...]:
        """When the site provides demand response: no random delay applies then."""
        if site_id is None or self._demand_response is None:
            return ()
        return self._demand_response.delay_exempt(site_id)

    def charger_blocked(
        self, mode: EffectiveMode, tz: str, now: datetime, exempt: Sequence[DelaySpan] = ()
    ) -> list[Interval]:
        """The charger's blocked intervals from `now` for `ENFORCED_DAYS` (`exempt`: no
        delay after a window ending in demand response)."""
        spans = [(a, b) for a, b, _ in exempt]
        kept = self._windows.get(mode.charge_point_id)
        if (
            kept is None
            or kept[:2] != (mode, spans)
            or now - kept[2] >= WINDOWS_KEPT
            or now < kept[2]
        ):
            kept = (mode, spans, now, blocked_intervals(mode, now, tz, self.delays, exempt=spans))
            self._windows[mode.charge_point_id] = kept
        return [(max(a, now), b) for a, b in kept[3] if b > now]

    def start_delay_s(self, mode: EffectiveMode, site_id: str | None = None) -> int:
        """The delay the charger's fail-safe should hold for its next session: none while
        its site provides demand response (a session starting then has none)."""
        settings = mode.settings
        if mode.mode is not ChargingMode.REGULATION_COMPLIANCE or not isinstance(
            settings, RegulationSettings
        ):
            return 0
        if exempt_at(self.exempt(site_id), self._clock.now()) is not None:
            self._exempt_zero.add(mode.charge_point_id)
            return 0
        self._exempt_zero.discard(mode.charge_point_id)
        event = self._next_start.setdefault(mode.charge_point_id, "first")
        return self.delays.at_start(settings, mode.charge_point_id, event)

    def fail_safe_accepted(self, charge_point_id: str, delay_s: int) -> None:
        """A 0 held for demand response is not a drawn delay: a session starting under
        it after the event (before the next replan re-sends the fail-safe) is delayed by
        its plan unless it started inside the event (`_start_waiting`)."""
        exempt = delay_s == 0 and charge_point_id in self._exempt_zero
        self._held_delay[charge_point_id] = None if exempt else delay_s

    def started(self, transaction_id: int, charge_point_id: str) -> None:
        """A session started under the delay its charger's fail-safe held; the next one
        gets a new delay."""
        held = self._held_delay.get(charge_point_id)
        if held is not None:
            self._session_delay[transaction_id] = held
        self._next_start[charge_point_id] = f"after-{transaction_id}"

    def ended(self, transaction_id: int) -> None:
        self._session_delay.pop(transaction_id, None)

    def session_rule(
        self,
        transaction: Transaction,
        mode: EffectiveMode,
        tz: str,
        now: datetime,
        site_id: str | None = None,
    ) -> SessionRule:
        """When the session may not charge, and why."""
        name = mode.mode.value
        if transaction.charge_now:
            return SessionRule(name, charge_now=True)
        if mode.mode is ChargingMode.USER_CONTROLLED:
            if transaction.started_remotely:
                return SessionRule(name)
            return SessionRule(name, ((transaction.started_at, now + FAR, "user_controlled"),))
        settings = mode.settings
        regulation = mode.mode is ChargingMode.REGULATION_COMPLIANCE and isinstance(
            settings, RegulationSettings
        )
        exempt = self.exempt(site_id) if regulation else ()
        blocked = self.charger_blocked(mode, tz, now, exempt)
        if mode.mode is ChargingMode.SCHEDULE:
            return SessionRule(name, tuple((a, b, "outside_schedule") for a, b in blocked))
        if not regulation or not isinstance(settings, RegulationSettings):
            return SessionRule(name)
        rows = [(a, b, "peak_window") for a, b in blocked]
        # Where the start delay reaches past a window, that part is the delay's.
        waiting = self._start_waiting(transaction, settings, exempt)
        rows += [(a, b, "random_delay") for a, b in _less(waiting, blocked) if b > now]
        return SessionRule(
            name,
            tuple(sorted(rows)),
            rise_until=self._rise_until(transaction, settings, exempt),
            demand_response=tuple(dict.fromkeys(e for _, b, e in exempt if b > now)),
        )

    def _start_waiting(
        self,
        transaction: Transaction,
        settings: RegulationSettings,
        exempt: Sequence[DelaySpan],
    ) -> list[Interval]:
        """The session's start delay; none when it started in demand response (kept so:
        the event's end does not bring a delay back to a session already charging)."""
        start = transaction.started_at
        if exempt_at(exempt, start) is not None:
            self._session_delay[transaction.id] = 0
        delay = self._session_delay.get(transaction.id)
        if delay is None:  # started before a restart: drawn anew, the same on every replan
            delay = self.delays.at_start(
                settings, transaction.charge_point_id, f"tx-{transaction.id}"
            )
        return [(start, start + timedelta(seconds=delay))] if delay else []

    def _rise_until(
        self,
        transaction: Transaction,
        settings: RegulationSettings,
        exempt: Sequence[DelaySpan] = (),
    ) -> Callable[[datetime], datetime] | None:
        """A rise's delay runs from the start of the quarter hour it falls in, drawn for
        that quarter: the same on every replan, so replans cannot put the rise off again.
        A planned rise (at a slot's start) waits its whole delay; one the site's readings
        bring mid-quarter waits what is left of it. A rise inside demand response goes at
        once; the one at its end is delayed (the span ends there)."""
        if settings.charger_applies_delay or settings.random_delay_max_s <= 0:
            return None
        charger, transaction_id = transaction.charge_point_id, transaction.id
        spans = tuple(exempt)

        def until(moment: datetime) -> datetime:
            if exempt_at(spans, moment) is not None:
                return moment
            quarter = _quarter_start(moment)
            event = f"tx-{transaction_id}-{quarter.isoformat()}"
            return quarter + timedelta(seconds=self.delays.at_rise(settings, charger, event))

        return until

    # --- the profile each charger holds ---------------------------------------------------------
    async def hold(
        self,
        layout: SiteLayout,
        modes: Mapping[str, EffectiveMode],
        overridden: set[str],
    ) -> None:
        """Give every connected charger the mode profile its mode asks for (`overridden`:
        chargers with a charge-now session, which hold a permissive one meanwhile)."""
        now = self._clock.now().replace(microsecond=0)
        for placement in layout.placements:
            charger = placement.charge_point_id
            mode = modes.get(charger)
            if mode is None or not self._presence.is_connected(charger):
                continue
            held = self._held.get(charger)
            if mode.mode in HELD_MODES and charger not in overridden:
                max_w = placement.max_power_w or DEFAULT_MAX_POWER_W
                spans = self._held_exempt(mode, layout.site.id, now)
                signature: tuple[object, ...] = (mode.mode, mode.settings, max_w, spans)
                if held is None or held.signature != signature or now - held.at >= REISSUE_AFTER:
                    await self._install(
                        charger, signature, layout.site.time_zone, mode, (max_w, spans)
                    )
            elif held is not None:
                await self._release(charger)

    def _held_exempt(
        self, mode: EffectiveMode, site_id: str, now: datetime
    ) -> tuple[Interval, ...]:
        """The demand-response spans a regulation charger's held profile knows of: a
        window ending in one has no delay after it (re-issued when they change)."""
        if mode.mode is not ChargingMode.REGULATION_COMPLIANCE:
            return ()
        return tuple((a, b) for a, b, _ in self.exempt(site_id) if b > now)

    async def _install(
        self,
        charger: str,
        signature: tuple[object, ...],
        tz: str,
        mode: EffectiveMode,
        limits: tuple[float, tuple[Interval, ...]],
    ) -> None:
        """`limits`: the charger's maximum, and the demand-response spans it knows of."""
        now = self._clock.now().replace(microsecond=0)
        max_w, exempt = limits
        capabilities = await self._keys.of(charger)
        blocked = blocked_intervals(mode, now, tz, self.delays, exempt=exempt)
        until = now + timedelta(days=ENFORCED_DAYS)
        profile = charge_point_max_profile(blocked, now, until, max_w, capabilities)
        # Never above an operator's ChargePointMaxProfile, and followed rather than theirs.
        bound, level = await self._ceilings.charge_point_max(charger, capabilities, now, until)
        if bound is not None:
            profile = lower_of(profile, bound, now, capabilities)
        profile = replace(profile, stack_level=level)
        try:
            answer = await self._chargers.set_charging_profile(charger, 0, profile)
        except DomainError as error:
            log.warning("%s: mode profile not installed: %s", charger, error)
            return
        if answer.status is ProfileStatus.ACCEPTED:
            self._held[charger] = _Held(signature, now)
        else:
            log.warning("%s: mode profile refused (%s)", charger, answer.status)

    async def _release(self, charger: str) -> None:
        """Out of the mode (or overridden): the mode profile goes."""
        try:
            await self._chargers.clear_charging_profile(charger, ProfileFilter(MODE_PROFILE_ID))
        except DomainError as error:
            log.warning("%s: mode profile not cleared: %s", charger, error)
            return
        self._held.pop(charger, None)


def _quarter_start(moment: datetime) -> datetime:
    return moment - timedelta(
        minutes=moment.minute % RISE_EVENT_MINUTES,
        seconds=moment.second,
        microseconds=moment.microsecond,
    )


def _less(intervals: list[Interval], minus: list[Interval]) -> list[Interval]:
    """`intervals` less `minus` (both sorted, disjoint)."""
    out: list[Interval] = []
    for start, end in intervals:
        out += complement([(a, b) for a, b in minus if b > start and a < end], start, end)
    return joined(out)


def schedule_energy_wh(mode: EffectiveMode) -> float | None:
    """A schedule's energy target, the session's need when no driver gave one."""
    if isinstance(mode.settings, ScheduleSettings) and mode.settings.energy_wh is not None:
        return mode.settings.energy_wh
    return None


def open_shares(
    intervals: list[Interval], slot_starts: list[datetime], slot_ends: list[datetime]
) -> tuple[frozenset[int], tuple[tuple[int, float], ...]]:
    """Per slot of a grid, the part outside the intervals: (slots wholly blocked, slots
    partly open with their share)."""
    blocked, partial = set(), []
    for index, (start, end) in enumerate(zip(slot_starts, slot_ends, strict=True)):
        length = (end - start).total_seconds()
        shut = sum(max(0.0, (min(b, end) - max(a, start)).total_seconds()) for a, b in intervals)
        if shut <= 0 or length <= 0:
            continue
        share = max(0.0, 1.0 - shut / length)
        if share <= 1e-9 or math.isclose(share, 0.0):
            blocked.add(index)
        else:
            partial.append((index, share))
    return frozenset(blocked), tuple(partial)
