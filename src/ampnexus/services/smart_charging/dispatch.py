"""A plan as charging profiles, and their sending (ADR 0003, dispatch). A plan is compiled
and recorded under the site's lock and sent after it: reductions, then increases, each wave
concurrently and waited for at most the profile deadline. An unconfirmed reduction
withholds the increases; a charger that stays silent is alerted and, like a refusing one,
planned at its maximum until it answers. A replan sends only the profiles that change."""

from __future__ import annotations

import asyncio
import math
import operator
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ampnexus.charging.compiler import (
    Change,
    ChargerCapabilities,
    Lowered,
    ProfileCommand,
    Steps,
    constant_steps,
    fail_safe_delay_s,
    fail_safe_per_connector_w,
    fail_safe_profile,
    highest_steps,
    limit_now_w,
    lower_of,
    profile_steps,
    spans_where,
    steps_at,
    tx_profile,
)
from ampnexus.charging.rise_delay import hold_steps, rise_holds
from ampnexus.domain.alert import AlertKey, AlertKind
from ampnexus.domain.charging_mode import ChargingMode
from ampnexus.domain.charging_profile import ChargingProfile, ProfileStatus
from ampnexus.domain.errors import CommandTimeout, Conflict, DomainError
from ampnexus.domain.site import SiteLayout
from ampnexus.domain.time import Clock
from ampnexus.services.ports import ChargerCommands
from ampnexus.services.smart_charging.background import Background, logged_failure
from ampnexus.services.smart_charging.capabilities import ChargerKeys
from ampnexus.services.smart_charging.ceilings import OperatorCeilings
from ampnexus.services.smart_charging.fail_safes import FailSafes
from ampnexus.services.smart_charging.health import ChargerHealth
from ampnexus.services.smart_charging.model import (
    Dispatch,
    Outcome,
    Send,
    SitePlan,
    log,
)
from ampnexus.services.smart_charging.modes import ModeRules
from ampnexus.services.smart_charging.places import Places
from ampnexus.services.smart_charging.readings import Readings

ENDED_REMEMBERED = 10_000  # stopped transactions remembered, far more than one dispatch sends


class Dispatcher:
    def __init__(
        self,
        *,
        commands: ChargerCommands,
        clock: Clock,
        background: Background,
        places: Places,
        keys: ChargerKeys,
        health: ChargerHealth,
        fail_safes: FailSafes,
        modes: ModeRules,
        readings: Readings,
        replan: Callable[[str], None],
        profile_deadline_s: float,
        ceilings: OperatorCeilings | None = None,
    ) -> None:
        self._chargers = commands
        self._ceilings = ceilings or OperatorCeilings(None, clock)
        self._clock = clock
        self._background = background
        self._alerts = background.alerts
        self._places = places
        self._keys = keys
        self._health = health
        self._fail_safes = fail_safes
        self._modes = modes
        self._readings = readings
        self._replan = replan
        self._profile_deadline_s = profile_deadline_s
        self._in_flight: dict[tuple[str, int], tuple[asyncio.Task[Outcome], Send]] = {}
        # Per connector, the transaction and the TxProfiles it may hold (more than one while
        # a send is unanswered), as limits over time: a new profile is judged against them.
        self._held: dict[tuple[str, int], tuple[int | None, tuple[Steps, ...]]] = {}
        self._late: set[asyncio.Task[Any]] = set()  # sends past the deadline, still waiting
        # Transactions stopped lately, oldest first: a profile for one is not a refusal.
        self._ended_transactions: dict[int, None] = {}
        # Connectors whose profile an operator's may have replaced: unknown until one of
        # ours is accepted again.
        self._unsure: set[tuple[str, int]] = set()

    def booted(self, charge_point_id: str) -> None:
        for key in [key for key in self._held if key[0] == charge_point_id]:
            del self._held[key]  # a reboot ends its transactions and their profiles
            self._unsure.discard(key)

    def operator_changed(self, charge_point_id: str) -> None:
        """An operator's profile went to the charger or left it: one at our stack level
        replaced ours, so what its connectors hold is not known."""
        self._unsure |= {key for key in self._held if key[0] == charge_point_id}

    def transaction_ended(self, transaction_id: int) -> None:
        self._ended_transactions[transaction_id] = None
        if len(self._ended_transactions) > ENDED_REMEMBERED:  # the oldest goes
            del self._ended_transactions[next(iter(self._ended_transactions))]

    # --- compiling ------------------------------------------------------------------------------
    async def compile(self, site_plan: SitePlan, layout: SiteLayout) -> Dispatch:
        """Every profile of the plan, compiled before any is sent (a plan that cannot be
        compiled changes nothing on the site) and split into the two waves: fail-safes and
        planned limits that go down, then those that go up. A session that has no profile yet
        draws under its connector's fail-safe: that is the limit its first profile raises or
        lowers. A rise at instants where no limit goes down is safe at once: it goes in the
        first wave (the lower of both where something does go down, then whole later)."""
        reductions: list[Send] = []
        increases: list[Send] = []
        await self._keys.learn([p.charge_point_id for p in layout.placements])
        static = self._fail_safes.targets(layout)
        targets = self._fail_safes.idle(layout, site_plan, static)
        modes = await self._modes.of_site(layout)
        site_id = layout.site.id
        delays = {c: self._modes.start_delay_s(mode, site_id) for c, mode in modes.items()}
        for charger, mode in modes.items():
            if mode.mode is ChargingMode.USER_CONTROLLED and charger in targets:
                targets[charger] = 0.0  # never starts by itself: a car plugging in draws nothing
        levels = await self._kept_under_operators(targets)
        lowered_anywhere = False  # a fail-safe binds a car plugging in at any time
        for charger, watts in self._fail_safes.changes(targets, delays):
            capabilities = await self._keys.of(charger, wait_s=0.0)
            delay = delays.get(charger, 0)
            profile = fail_safe_profile(watts, capabilities, delay, levels[charger])
            send = Send(charger, 0, watts, profile)
            lowers = watts < self._fail_safe_before(charger)
            (reductions if lowers else increases).append(send)
            lowered_anywhere = lowered_anywhere or lowers
        since = self._clock.now().replace(microsecond=0)
        judged: list[tuple[Send, Steps, ChargerCapabilities]] = []
        spans: list[tuple[datetime, datetime]] = []
        for command, capabilities in await self._commands(site_plan, static):
            key = (command.charge_point_id, command.connector_id)
            steps = profile_steps(command.profile, capabilities)
            send = Send(*key, command.limit_now_w, command.profile, steps)
            held, certain = self.held_steps(key, command.profile.transaction_id, since)
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
            _order(send, held, since, lowered, capabilities, (reductions, increases))
        return Dispatch(site_plan, reductions, increases)

    async def _kept_under_operators(self, targets: dict[str, float]) -> dict[str, int]:
        """Lower each charger's fail-safe share (in place) to what the operator's TxDefault
        and ChargePointMax profiles allow; the stack level each fail-safe goes at."""
        levels = {}
        for charger in targets:
            capabilities = await self._keys.of(charger, wait_s=0.0)
            each_w, levels[charger] = await self._ceilings.fail_safe(charger, capabilities)
            if math.isfinite(each_w):
                targets[charger] = min(targets[charger], each_w * max(1, capabilities.connectors))
        return levels

    def held_steps(
        self, key: tuple[str, int], transaction_id: int | None, since: datetime
    ) -> tuple[Steps | None, bool]:
        """The most the connector may be allowed at each instant from `since` (None:
        unknown): its TxProfile for this transaction, else its fail-safe, and any send still
        on its way (it may apply it at any moment). True when it is certainly that one: a
        session always gets its own profile, as its connector's fail-safe follows the others'."""
        if key in self._unsure:
            return None, False
        held = self._held.get(key)
        own = held is not None and held[0] == transaction_id
        if held is not None and own:
            candidates = list(held[1])
        else:
            each = self._fail_safes.connector_w(key[0])
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
        before = self._fail_safes.held_w(charger)
        before = math.inf if before is None else before
        flight = self._in_flight.get((charger, 0))
        return max(before, flight[1].limit_w) if flight is not None else before

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
            if self._health.refusing(charger):
                site_plan.alerts.append(
                    f"{charger} refuses charging profiles: planned at its maximum power"
                )
                continue
            if self._health.silent(charger):
                site_plan.alerts.append(
                    f"{charger} does not answer charging profiles: planned at its maximum power"
                )
                continue
            capabilities = await self._keys.of(charger, wait_s=0.0)
            after = fail_safe_per_connector_w(fail_safes.get(charger, 0.0), capabilities)
            rule = site_plan.rules.get(session_id)
            blocked = (
                [] if rule is None else [(a, b) for a, b in rule.intervals if a < plan.grid.end]
            )
            bounded = site_plan.limits.get(session_id)
            if bounded is not None and bounded.stack_level is None:
                site_plan.alerts.append(
                    f"{charger} connector {connector}: the operator's charging profile holds "
                    "the highest stack level: planned as drawing up to its limit"
                )
                continue
            profile = tx_profile(
                plan,
                session_id,
                transaction_id,
                connector,
                capabilities,
                after,
                blocked,
                bound=None if bounded is None else bounded.steps,
                stack_level=None if bounded is None else bounded.stack_level,
            )
            if rule is not None and rule.rise_until is not None:
                exempt = {end for _, end in rule.intervals}  # these rises had their delay
                profile = self._rises_delayed(
                    profile, rule.rise_until, exempt, (charger, connector), capabilities
                )
            limit = limit_now_w(plan, session_id, now)
            commands.append((ProfileCommand(charger, connector, profile, limit), capabilities))
        return commands

    def _rises_delayed(
        self,
        profile: ChargingProfile,
        until_of: Callable[[datetime], datetime],
        exempt: set[datetime],
        key: tuple[str, int],
        capabilities: ChargerCapabilities,
    ) -> ChargingProfile:
        """Regulation mode: each rise of the rate waits for its random delay, at once and
        later in the profile; a fall goes at once (it keeps the site within its limits).
        A rise where a peak window or the start delay ends has had its delay."""
        since = self._clock.now().replace(microsecond=0)
        held, _ = self.held_steps(key, profile.transaction_id, since)
        held_now = 0.0 if held is None else steps_at(held, since)
        steps = profile_steps(profile, capabilities)
        holds = rise_holds(steps, held_now, since, until_of, exempt)
        if not holds:
            return profile
        return lower_of(profile, hold_steps(holds), since, capabilities, steps=steps)

    # --- sending --------------------------------------------------------------------------------
    async def run(self, dispatch: Dispatch) -> None:
        """Reductions first, all at once; the increases only when every reduction was
        confirmed within the deadline: the headroom they use may still be drawn elsewhere.
        A charger found silent is in neither (`ChargerKeys.learn` probes it): the plan
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

    async def _wave(self, site_plan: SitePlan, sends: list[Send]) -> bool:
        """Send all at once and wait at most the profile deadline; True when every charger
        confirmed (or no longer has the session). The silent ones are alerted and replanned."""
        if not sends:
            return True
        tasks = {self._send(site_plan, send): send for send in sends}
        done, pending = await asyncio.wait(tasks, timeout=self._profile_deadline_s)
        for task in pending:
            self._late.add(task)
            await self._silent(tasks[task], site_plan.site_id)
        if pending:
            self._retry_later(site_plan.site_id)
        return not pending and all(
            not task.cancelled() and task.result() is not Outcome.REFUSED for task in done
        )

    def _send(self, site_plan: SitePlan, send: Send) -> asyncio.Task[Outcome]:
        """Supersedes a send to the same connector still in flight (its answer would only
        say what is no longer meant)."""
        old = self._in_flight.pop(send.key, None)
        if old is not None:
            old[0].cancel()
        task = asyncio.get_running_loop().create_task(self._install(site_plan, send))
        self._in_flight[send.key] = (task, send)
        self._background.track(task)
        task.add_done_callback(self._late.discard)
        return task

    def _current(self, send: Send) -> bool:
        flight = self._in_flight.get(send.key)
        return flight is not None and flight[0] is asyncio.current_task()

    async def _install(self, site_plan: SitePlan, send: Send) -> Outcome:
        charger, connector = send.key
        try:
            if self._ended(send.profile):  # not sent: the charger would only refuse it
                return self._settled(send, Outcome.GONE)
            answer = await self._chargers.set_charging_profile(charger, connector, send.profile)
            accepted = answer.status is ProfileStatus.ACCEPTED
            if not accepted and self._ended(send.profile):  # ended while on its way
                return self._settled(send, Outcome.GONE)
        except Conflict as error:  # offline: not a refusal
            log.info("%s: plan not applied: %s", charger, error)
            return self._settled(send, Outcome.GONE)
        except CommandTimeout as error:  # alerted at the deadline already
            log.info("%s: %s", charger, error)
            self._health.went_silent(charger)  # probed beside the waves until it answers
            return self._settled(send, Outcome.SILENT)
        except DomainError as error:
            log.warning("%s: SetChargingProfile failed: %s", charger, error)
            accepted = False
        await self._health.answered(charger, site_plan.site_id)
        if accepted:
            if self._current(send):
                if connector:  # a fail-safe accepted says nothing of its TxProfiles
                    self._held[send.key] = (send.profile.transaction_id, (send.steps,))
                    self._unsure.discard(send.key)
                    self._readings.note_raises(send)
                    self._health.obeys(charger, site_plan.site_id)
                else:
                    delay = fail_safe_delay_s(send.profile)
                    self._fail_safes.accepted(charger, send.limit_w, delay)
                    self._modes.fail_safe_accepted(charger, delay)
            return self._settled(send, Outcome.ACCEPTED)
        if not connector:  # as before: logged, retried while its share differs
            log.warning("%s: fail-safe profile refused", charger)
            self._fail_safes.refused(charger)  # planned around the one it holds
            return self._settled(send, Outcome.GONE)
        self._refused(site_plan, charger, connector)
        return self._settled(send, Outcome.REFUSED)

    def _ended(self, profile: ChargingProfile) -> bool:
        return profile.transaction_id in self._ended_transactions

    def _settled(self, send: Send, outcome: Outcome) -> Outcome:
        """Past the deadline, an answer (or the command's timeout) asks for a replan: the
        increases that waited for it, or another try."""
        if self._current(send):
            del self._in_flight[send.key]
        if asyncio.current_task() in self._late:
            placed = self._places.placed.get(send.charge_point_id)
            if placed is not None:
                self._replan(placed.site_id)
        return outcome

    def _refused(self, site_plan: SitePlan, charger: str, connector: int) -> None:
        if self._keys.try_other_unit(charger):
            self._replan(site_plan.site_id)
            return
        self._health.refused(site_plan, charger, connector)

    async def _silent(self, send: Send, site_id: str) -> None:
        """Until it answers, the charger may hold either its old profile or the new one: the
        higher counts at every instant, so its next profile is a reduction where it lowers."""
        charger = send.charge_point_id
        if send.connector_id:
            self._may_hold(send)
        self._health.went_silent(charger)
        with logged_failure("could not record the alert"):
            await self._alerts.raise_alert(
                AlertKey(AlertKind.CHARGER_SILENT, charger, site_id),
                f"{charger} did not answer its charging profile within "
                f"{self._profile_deadline_s:g} s; retried at the next replan",
                details={"connector_id": send.connector_id, "limit_w": send.limit_w},
            )

    def _may_hold(self, send: Send) -> None:
        """An unanswered TxProfile joins what the connector may hold."""
        transaction_id = send.profile.transaction_id
        held = self._held.get(send.key)
        if held is not None and held[0] == transaction_id:
            self._held[send.key] = (transaction_id, (*held[1], send.steps))
            return
        each = self._fail_safes.connector_w(send.charge_point_id)
        if each is not None:  # unknown stays unknown
            self._held[send.key] = (transaction_id, (constant_steps(each), send.steps))

    def _retry_later(self, site_id: str) -> None:
        """A silent charger is retried by a replan soon, not only by the next timed one."""
        self._background.spawn(self._after(self._profile_deadline_s, site_id))

    async def _after(self, delay_s: float, site_id: str) -> None:
        await asyncio.sleep(delay_s)
        self._replan(site_id)


def _order(
    send: Send,
    held: Steps,
    since: datetime,
    lowered: Lowered,
    capabilities: ChargerCapabilities,
    waves: tuple[list[Send], list[Send]],
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
        first_wave.append(Send(*send.key, steps_at(first_steps, since), first, first_steps))
    second_wave.append(send)
