"""What the parts of smart charging hand each other: a site's plan and how its last replan
failed, the profiles a dispatch sends, and the constants more than one part reads."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from ampnexus.charging.compiler import Steps
from ampnexus.charging.model import Plan, PlanRequest, Session
from ampnexus.domain.charging_profile import ChargingProfile

# One logger for the whole package: its lines keep the name they had from one module.
log = logging.getLogger("ampnexus.services.smart_charging")

SITE = "site"  # the circuit id of the grid connection itself
DEFAULT_MAX_POWER_W = 11_000.0
REFUSALS_BEFORE_EXCLUDED = 2
METER_MAX_AGE = timedelta(minutes=15)
SLACK_W = 1.0  # less than this is nothing
ERROR_CHARS = 300  # of a failed replan's error, as shown in the plan and its alert

Planner = Callable[..., Plan]


@dataclass(frozen=True, slots=True)
class ReplanFailure:
    error: str
    failed_at: datetime


@dataclass(frozen=True, slots=True)
class SessionRule:
    """What a session's mode makes of it: the UTC intervals it may not charge in, and why
    (`peak_window`, `random_delay`, `outside_schedule`, `user_controlled`)."""

    mode: str
    blocked: tuple[tuple[datetime, datetime, str], ...] = ()
    charge_now: bool = False  # the owner's override: nothing blocked, the charger let free
    # Regulation mode: when a rise of the rate at an instant may happen (its random delay's
    # end); None: rises go at once.
    rise_until: Callable[[datetime], datetime] | None = None
    # The demand-response events in whose time its random delays are not applied.
    demand_response: tuple[str, ...] = ()

    @property
    def intervals(self) -> list[tuple[datetime, datetime]]:
        return [(start, end) for start, end, _ in self.blocked]

    def reason_at(self, moment: datetime) -> str | None:
        return next((why for a, b, why in self.blocked if a <= moment < b), None)


@dataclass(frozen=True, slots=True)
class OperatorLimit:
    """What an operator's profiles leave a session (issue 17): the most it may draw over
    time (W), and the stack level its planned TxProfile goes at, above every operator
    TxProfile its connector holds for it (None: none is free below the charger's highest;
    no TxProfile is sent, the session is planned as drawing up to the operator's bound)."""

    steps: Steps
    stack_level: int | None


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
    rules: dict[str, SessionRule] = field(default_factory=dict)  # session id -> its mode's
    limits: dict[str, OperatorLimit] = field(default_factory=dict)  # session id -> operator's
    # Per slot, the demand-response events that lowered its cap or set its price.
    demand_response: tuple[tuple[str, ...], ...] = ()

    @property
    def stale(self) -> bool:
        return self.failure is not None

    def exempted_by(self, session_id: str) -> tuple[str, ...]:
        """The demand-response events in whose time its random delays are not applied."""
        rule = self.rules.get(session_id)
        return () if rule is None else rule.demand_response

    def mode_of(self, session_id: str) -> str | None:
        rule = self.rules.get(session_id)
        return None if rule is None else rule.mode

    def waiting_reason(self, session_id: str) -> str | None:
        """Why a session is planned nothing now: its mode (`peak_window`, `random_delay`,
        `outside_schedule`, `user_controlled`), else a demand-response event's cap on the
        site that binds (`demand_response`), else a site or circuit limit that binds
        (`limit_reached`), else cheaper or sunnier slots later (`waiting_for_price`,
        `waiting_for_solar`), else `planned_later` (nothing is cheaper later: the plan
        chose its time among equal ones, or gave now to cars leaving sooner); None when it
        charges now or needs nothing more."""
        power = self.plan.power_w.get(session_id)
        if not power or power[0] > SLACK_W:
            return None
        rule = self.rules.get(session_id)
        reason = None if rule is None else rule.reason_at(self.made_at)
        if reason is not None:
            return reason
        slots = self.plan.slots
        binding = slots[0].binding if slots else None
        if binding == "site power" and self.demand_response and self.demand_response[0]:
            return "demand_response"
        if binding is not None and binding != "price":
            return "limit_reached"
        later = [t for t, watts in enumerate(power) if watts > SLACK_W]
        if not later:
            return None
        first = later[0]
        if slots and slots[first].solar_w > slots[0].solar_w + SLACK_W:
            return "waiting_for_solar"
        prices = self.request.series.import_price
        if len(prices) > first and prices[first] < prices[0]:
            return "waiting_for_price"
        return "planned_later"


class Outcome(Enum):
    ACCEPTED = "accepted"
    REFUSED = "refused"  # or failed: the charger holds its old limit
    # Offline, or the session ended: the plan no longer applies to it. Also a refused
    # fail-safe: a charger that keeps refusing it must not hold up the whole site.
    GONE = "gone"
    SILENT = "silent"  # no answer within the command timeout


@dataclass(frozen=True, slots=True)
class Send:
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
class Dispatch:
    site_plan: SitePlan
    reductions: list[Send]
    increases: list[Send]


@dataclass(frozen=True, slots=True)
class Draw:
    """A session that no profile can lower, and the most its charger may let it draw."""

    session: Session
    charge_point_id: str
    transaction_id: int
    watts: float
    stoppable: bool  # refusing profiles, but answering: RemoteStopTransaction reaches it


@dataclass(frozen=True, slots=True)
class Placed:
    """A charger's site and the most it can draw there (charging.plausible)."""

    site_id: str
    max_w: float


def describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[:ERROR_CHARS]
