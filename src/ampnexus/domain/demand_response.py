"""Demand response (OpenADR 2.0b): the programs AmpNexus takes part in as a VEN, the events
their VTNs send, and what those events ask of each site's EV load, slot by slot.

Pure: the VEN (`grid/openadr.py`) turns OpenADR messages into these values; the planner's
request builder turns `site_limits` into a cap on the site's import. Two kinds of signal
shape a plan here:

- SIMPLE (levels 0-3): shed a share of the site's flexible EV load, per level as the
  program says (default 0 %, 30 %, 60 %, 100 %).
- LOAD_DISPATCH `setpoint` and LOAD_CONTROL `x-loadControlSetpoint`: an absolute limit on
  the site's EV load; LOAD_CONTROL `x-loadControlCapacity`: the share of it that may run.

- ELECTRICITY_PRICE `price` (per kWh, the site's currency), `priceRelative` (added to
  the site's price) and `priceMultiplier` (times it): the import price of its slots.

Anything else is recorded and shown, with no effect on plans (`Effect.NONE`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

LevelCuts = tuple[float, float, float, float]
DEFAULT_LEVEL_CUTS: LevelCuts = (0.0, 0.3, 0.6, 1.0)
MIN_POLL_INTERVAL_S = 1  # the most often a VTN is polled: once a second
MAX_POLL_INTERVAL_S = 86_400  # openleadr polls at least daily
# OpenADR's certificate fingerprint: the last 10 bytes of its SHA-256, as AA:BB:...
FINGERPRINT = re.compile(r"^[0-9A-F]{2}(:[0-9A-F]{2}){9}$")


class EventStatus(StrEnum):
    """oadr:EventStatusEnumeratedType."""

    NONE = "none"
    FAR = "far"
    NEAR = "near"
    ACTIVE = "active"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class OptState(StrEnum):
    """What the VEN answered for an event (the OpenADR spellings)."""

    IN = "optIn"
    OUT = "optOut"


class Effect(StrEnum):
    """What an event's signal does to a plan."""

    CUT = "cut"  # sheds a share of the flexible EV load
    LIMIT = "limit"  # an absolute EV limit
    PRICE = "price"  # sets, shifts or scales the import price
    NONE = "none"  # recorded only: a signal AmpNexus does not act on (yet)


@dataclass(frozen=True, slots=True)
class Program:
    """A utility's or aggregator's demand-response program: one VEN registered with its
    VTN, covering some sites. `ven_id` is what the VTN assigned at the first registration,
    kept so a restart registers as the same VEN."""

    id: str
    vtn_url: str
    ven_name: str
    site_ids: tuple[str, ...]
    poll_interval_s: int = 10
    opt_out: bool = False  # answer optOut to every event (it then shapes no plan)
    level_cuts: LevelCuts = DEFAULT_LEVEL_CUTS
    ven_id: str | None = None
    opt_out_site_ids: tuple[str, ...] = ()  # these sites always opt out (of its sites)
    # Signed messages (paths on the AmpNexus host): the VEN signs with its certificate and
    # unencrypted key, which also authenticate it over HTTPS; `ca_file` is the CA of the
    # VTN's HTTPS certificate; the VTN's messages count only when signed by the certificate
    # of `vtn_fingerprint`.
    cert_file: str | None = None
    key_file: str | None = None
    ca_file: str | None = None
    vtn_fingerprint: str | None = None

    def __post_init__(self) -> None:
        if not MIN_POLL_INTERVAL_S <= self.poll_interval_s <= MAX_POLL_INTERVAL_S:
            raise ValueError(
                f"poll_interval_s must be {MIN_POLL_INTERVAL_S}..{MAX_POLL_INTERVAL_S}"
            )
        if len(self.level_cuts) != 4 or not all(0.0 <= c <= 1.0 for c in self.level_cuts):
            raise ValueError("level_cuts: four shares between 0 and 1, for levels 0-3")
        if not set(self.opt_out_site_ids) <= set(self.site_ids):
            raise ValueError("opt_out_site_ids: only sites the program covers")
        self._check_signing()

    def _check_signing(self) -> None:
        """openleadr signs only with both files, and then reads the CA file unconditionally
        to make its HTTPS context: a half-configured VEN would fail at its first request."""
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file: give both (signed messages) or neither")
        if (self.cert_file is None) != (self.ca_file is None):
            raise ValueError("ca_file: the VTN's HTTPS CA, needed with cert_file and only then")
        if self.vtn_fingerprint is not None and not FINGERPRINT.match(self.vtn_fingerprint):
            raise ValueError(
                "vtn_fingerprint: the VTN certificate's OpenADR fingerprint, ten hex pairs "
                "(AA:BB:CC:DD:EE:FF:00:11:22:33)"
            )

    @property
    def signs(self) -> bool:
        """Its VEN signs its messages (and presents its certificate over HTTPS)."""
        return self.cert_file is not None


@dataclass(frozen=True, slots=True)
class ProgramStatus:
    """How the program's VEN is doing, as it last saw (kept in memory, not stored)."""

    registered: bool = False
    ven_id: str | None = None
    registration_id: str | None = None
    last_poll_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Interval:
    start: datetime
    duration: timedelta
    value: float

    @property
    def end(self) -> datetime:
        return self.start + self.duration


@dataclass(frozen=True, slots=True)
class Event:
    """One modification of a VTN's event, as the VEN received it and answered it.
    `watts_per_unit` turns an absolute signal's values into W (1000: kW, the default)."""

    program_id: str
    event_id: str
    modification_number: int
    status: EventStatus
    signal_name: str
    signal_type: str
    intervals: tuple[Interval, ...]
    site_ids: tuple[str, ...]
    opt: OptState
    opt_reason: str
    received_at: datetime
    watts_per_unit: float = 1000.0
    # Targeted sites that opted out of an event answered optIn, and why (site id, reason).
    opted_out: tuple[tuple[str, str], ...] = ()

    @property
    def effect(self) -> Effect:
        return effect_of(self.signal_name, self.signal_type)

    @property
    def start(self) -> datetime | None:
        return min((i.start for i in self.intervals), default=None)

    @property
    def end(self) -> datetime | None:
        return max((i.end for i in self.intervals), default=None)

    @property
    def shapes_plans(self) -> bool:
        """In force: opted in, not cancelled, and of a signal AmpNexus acts on."""
        return (
            self.opt is OptState.IN
            and self.status is not EventStatus.CANCELLED
            and self.effect is not Effect.NONE
        )

    @property
    def participating(self) -> tuple[str, ...]:
        """The targeted sites that take part (all of them but those opted out)."""
        out = {site for site, _ in self.opted_out}
        return tuple(site for site in self.site_ids if site not in out)

    def shapes(self, site_id: str) -> bool:
        """In force for this site: the event shapes plans and the site takes part."""
        return self.shapes_plans and site_id in self.participating

    def site_opt(self, site_id: str) -> tuple[OptState, str]:
        """What the site answered: the event's answer, unless the site opted out alone."""
        reason = next((why for site, why in self.opted_out if site == site_id), None)
        return (self.opt, self.opt_reason) if reason is None else (OptState.OUT, reason)


@dataclass(frozen=True, slots=True)
class SlotLimit:
    """What the events in force ask of a site's EV load in one slot: shed `cut` of the
    flexible load, and stay within `ev_limit_w` (inf: no absolute limit)."""

    cut: float = 0.0
    ev_limit_w: float = math.inf
    event_ids: tuple[str, ...] = ()

    @property
    def binds(self) -> bool:
        """It asks something of the EV load (a level-0 event, or none, asks nothing)."""
        return self.cut > 0.0 or self.ev_limit_w < math.inf

    def tighter(self, other: SlotLimit) -> SlotLimit:
        ids = self.event_ids + tuple(i for i in other.event_ids if i not in self.event_ids)
        return SlotLimit(max(self.cut, other.cut), min(self.ev_limit_w, other.ev_limit_w), ids)


NO_LIMIT = SlotLimit()
PRICE_TYPES = ("price", "priceRelative", "priceMultiplier")


@dataclass(frozen=True, slots=True)
class SlotPrice:
    """A price event's word on one slot's import price: `kind` one of PRICE_TYPES."""

    kind: str
    value: float
    event_id: str

    def applied(self, price: float) -> float:
        if self.kind == "price":
            return self.value
        if self.kind == "priceRelative":
            return price + self.value
        return price * self.value


def effect_of(signal_name: str, signal_type: str) -> Effect:
    name, kind = signal_name.upper(), signal_type
    if name == "SIMPLE" and kind == "level":
        return Effect.CUT
    if name == "LOAD_DISPATCH" and kind == "setpoint":
        return Effect.LIMIT
    if name == "LOAD_CONTROL" and kind == "x-loadControlSetpoint":
        return Effect.LIMIT
    if name == "LOAD_CONTROL" and kind == "x-loadControlCapacity":
        return Effect.CUT
    if name == "ELECTRICITY_PRICE" and kind in PRICE_TYPES:
        return Effect.PRICE
    return Effect.NONE


def latest(events: Iterable[Event]) -> list[Event]:
    """Each event as of its highest modification number: an older copy arriving late (a
    restart's resync, a retried poll) never undoes a newer one."""
    newest: dict[tuple[str, str], Event] = {}
    for event in events:
        key = (event.program_id, event.event_id)
        kept = newest.get(key)
        if kept is None or event.modification_number >= kept.modification_number:
            newest[key] = event
    return list(newest.values())


def interval_limit(event: Event, value: float, cuts: LevelCuts) -> SlotLimit:
    """One interval's value as a limit. A SIMPLE level is rounded and held to 0-3; a
    capacity share to 0-1 (the cut is what it leaves out); a setpoint below 0 to 0."""
    ids = (event.event_id,)
    if event.effect is Effect.PRICE:
        return NO_LIMIT
    if event.effect is Effect.CUT and event.signal_name.upper() == "SIMPLE":
        level = min(max(round(value), 0), 3)
        return SlotLimit(cut=cuts[level], event_ids=ids)
    if event.effect is Effect.CUT:
        return SlotLimit(cut=1.0 - min(max(value, 0.0), 1.0), event_ids=ids)
    if event.effect is Effect.LIMIT:
        return SlotLimit(ev_limit_w=max(value, 0.0) * event.watts_per_unit, event_ids=ids)
    return NO_LIMIT


def site_limits(
    events: Iterable[Event],
    site_id: str,
    starts: Sequence[datetime],
    ends: Sequence[datetime],
    level_cuts: Mapping[str, LevelCuts] | None = None,
) -> tuple[SlotLimit, ...]:
    """Per slot [start, end) of a plan, the strictest the site's events in force ask
    anywhere inside it: a slot an interval only touches in part is held to it whole, as an
    operator's bound is (`slot_lowest`), so the site is within the limit the moment it
    starts. `level_cuts`: each program's SIMPLE cuts (default DEFAULT_LEVEL_CUTS)."""
    cuts = level_cuts or {}
    slots = [NO_LIMIT] * len(starts)
    for event in latest(events):
        if not event.shapes(site_id) or event.effect is Effect.PRICE:
            continue
        program_cuts = cuts.get(event.program_id, DEFAULT_LEVEL_CUTS)
        for interval in event.intervals:
            limit = interval_limit(event, interval.value, program_cuts)
            for t, (start, end) in enumerate(zip(starts, ends, strict=True)):
                if interval.start < end and start < interval.end:
                    slots[t] = slots[t].tighter(limit)
    return tuple(slots)


def site_prices(
    events: Iterable[Event],
    site_id: str,
    starts: Sequence[datetime],
    ends: Sequence[datetime],
) -> tuple[SlotPrice | None, ...]:
    """Per slot [start, end), the price interval that covers most of it: at least half,
    and more than any other (None: none does). Prices are not limits: a slot takes the
    price of most of its time, not the highest."""
    best: list[tuple[float, SlotPrice] | None] = [None] * len(starts)
    for event in latest(events):
        if event.effect is not Effect.PRICE or not event.shapes(site_id):
            continue
        for interval in event.intervals:
            price = SlotPrice(event.signal_type, interval.value, event.event_id)
            for t, (start, end) in enumerate(zip(starts, ends, strict=True)):
                overlap = (min(end, interval.end) - max(start, interval.start)).total_seconds()
                half = (end - start).total_seconds() / 2
                kept = best[t]
                if overlap >= half and (kept is None or overlap > kept[0]):
                    best[t] = (overlap, price)
    return tuple(b[1] if b else None for b in best)


def any_limit(limits: Sequence[SlotLimit]) -> bool:
    return any(s.binds for s in limits)


DelaySpan = tuple[datetime, datetime, str]  # [start, end) and the event's VTN id


def delay_exempt(events: Iterable[Event], site_id: str) -> tuple[DelaySpan, ...]:
    """The spans in which the site provides demand response, by start: each interval of an
    event in force that directs its EV load (a cut or a limit). The UK Regulations exempt
    such times from the randomised delay: the VTN chose them, and a delay would only blur
    its dispatch. Price events are not among them: like a tariff they leave the timing to
    the site, and a price step seen by every site at once is the very surge the delay
    spreads. The span ends where the event does, so the rise back at its end is delayed."""
    spans: list[DelaySpan] = []
    for event in latest(events):
        if not event.shapes(site_id) or event.effect not in (Effect.CUT, Effect.LIMIT):
            continue
        spans += [(i.start, i.end, event.event_id) for i in event.intervals if i.end > i.start]
    return tuple(sorted(spans))


def exempt_at(spans: Sequence[DelaySpan], moment: datetime) -> str | None:
    """The event whose span holds `moment` (None: the delay applies then)."""
    return next((event_id for start, end, event_id in spans if start <= moment < end), None)


@dataclass(frozen=True, slots=True)
class EventWindow:
    """Which events to list: those targeting `site_id`, ending after `ending_after` and
    starting before `starting_before` (None: any)."""

    site_id: str | None = None
    ending_after: datetime | None = None
    starting_before: datetime | None = None


ALL_EVENTS = EventWindow()
