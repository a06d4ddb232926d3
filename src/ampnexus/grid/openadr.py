"""OpenADR 2.0b VENs on `openleadr` (pinned): one per demand-response program.

Each VEN registers with its program's VTN (as the VEN id the VTN gave it before, if any),
then polls at the program's interval, not at the one the VTN asks for: the operator chose
it for the program. openleadr's own scheduler is not used: the loop here records each poll
and error for the program's status, and re-registers when a registration is lost or never
came. Events reach the `EventSink` as domain values; its answer (optIn or optOut) goes
back to the VTN in oadrCreatedEvent, which openleadr sends.

Sites that opt out of an event answered optIn are named to the VTN in oadrCreateOpt (EiOpt,
the event's id and the sites' resource ids): OpenADR answers an event once per VEN, and
partial participation is told this way. A VTN that does not serve EiOpt shows in the
program's status; nothing else changes.

Each VEN offers a TELEMETRY_USAGE report of each site's EV load (W, resource id and r_id
the site's id); openleadr samples and sends it at the granularity the VTN asks for.

Signed messages, when the program names the files: openleadr signs each message with the
VEN's certificate and key (also its HTTPS client certificate, checked against the VTN's
`ca_file`) and drops any VTN message not signed by the certificate of `vtn_fingerprint`;
the VEN records why in the program's status.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from openleadr import OpenADRClient  # type: ignore[import-untyped]
from openleadr.messaging import validate_xml_schema  # type: ignore[import-untyped]
from openleadr.objects import SamplingRate  # type: ignore[import-untyped]
from openleadr.utils import (  # type: ignore[import-untyped]
    certificate_fingerprint,
    extract_pem_cert,
)

from ampnexus.domain.demand_response import (
    Effect,
    Event,
    EventStatus,
    Interval,
    OptState,
    Program,
    ProgramStatus,
    effect_of,
)
from ampnexus.domain.time import Clock, utc
from ampnexus.services.demand_response import OPT_OUT_CONFIGURED, OPT_OUT_PREMIUM, EventSink

log = logging.getLogger("ampnexus.openadr")

SCALES = {"none": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "m": 1e-3}
UNITS_W = {"W": 1.0, "kW": 1e3, "MW": 1e6}  # units some VTNs give instead of W with a scale
# What the EV-load report offers: sampled every 1 s to 1 h, as the VTN asks; an hour kept.
MIN_SAMPLING, MAX_SAMPLING = timedelta(seconds=1), timedelta(hours=1)
REPORT_DURATION = timedelta(hours=1)
# Our opt-out reasons as OpenADR's optReason (openleadr takes only these): a premium
# driver's need is load that must run.
OPT_REASONS = {OPT_OUT_CONFIGURED: "notParticipating", OPT_OUT_PREMIUM: "mustRun"}


class _Client(OpenADRClient):  # type: ignore[misc]
    """openleadr's client, telling its VEN whether each poll reached the VTN."""

    def __init__(self, ven: _Ven, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._ven = ven

    async def poll(self) -> Any:
        answer = await super().poll()
        self._ven.polled(answer[0] is not None)
        return answer


@dataclass
class _Ven:
    program: Program
    sink: EventSink
    clock: Clock
    status: ProgramStatus = field(default_factory=ProgramStatus)
    client: _Client | None = None
    task: asyncio.Task[None] | None = None
    telling: set[asyncio.Task[None]] = field(default_factory=set)  # oadrCreateOpt under way
    rejected: str | None = None  # why the VTN's last message was not taken (its signature)

    def polled(self, answered: bool) -> None:
        now = self.clock.now()
        if answered:
            self.status = replace(self.status, last_poll_at=now)
        else:
            self.failed("the VTN did not answer the poll")

    def failed(self, error: str) -> None:
        if self.rejected:  # openleadr drops a badly signed answer as if none came: say why
            error, self.rejected = f"{error}: {self.rejected}", None
        log.warning("program %s: %s", self.program.id, error)
        self.status = replace(self.status, last_error=error, last_error_at=self.clock.now())

    async def run(self) -> None:
        """Register (again, while not registered), then poll; never gives up."""
        while True:
            try:
                if self.client is None:  # openleadr reads the signing files here
                    self.client = self._client()
                _reopen(self.client)
                if self.client.registration_id is None and self.status.registered:
                    await self._renew()  # the VTN cancelled or lost the registration
                if self.client.registration_id is None:
                    await self._register(self.client)
                else:
                    await self.client._poll()  # openleadr's dispatch of what a poll brings
                    await self._note_registration(self.client)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # a VTN's odd answer must not end the VEN
                self.failed(f"{type(error).__name__}: {error}")
            await asyncio.sleep(self.program.poll_interval_s)

    def _client(self) -> _Client:
        client = _Client(
            self,
            ven_name=self.program.ven_name,
            vtn_url=self.program.vtn_url,
            ven_id=self.program.ven_id,
            show_fingerprint=False,
            cert=self.program.cert_file,
            key=self.program.key_file,
            ca_file=self.program.ca_file,
            vtn_fingerprint=self.program.vtn_fingerprint,
        )
        if self.program.vtn_fingerprint:
            client.add_hook("before_schema_validation", self._check_signature)
        client.add_handler("on_event", self._on_event)
        client.add_handler("on_update_event", self._on_event)
        for site_id in self.program.site_ids:
            client.add_report(
                callback=partial(self.sink.ev_load_w, site_id),
                resource_id=site_id,
                measurement="real_power",  # W
                report_specifier_id=f"{self.program.id}-ev-load",
                r_id=site_id,
                report_duration=REPORT_DURATION,
                sampling_rate=SamplingRate(
                    min_period=MIN_SAMPLING, max_period=MAX_SAMPLING, on_change=False
                ),
            )
        return client

    def _check_signature(self, content: str) -> None:
        """The fingerprint openleadr will compare, found first: it only logs a message it
        drops for its signature, and the program's status must tell the operator. (Not its
        whole check: that would spend the message's replay-protection nonce.)"""
        expected = self.program.vtn_fingerprint
        try:
            signer = certificate_fingerprint(extract_pem_cert(validate_xml_schema(content)))
        except Exception:
            self.rejected = f"the VTN's message is not signed (expected fingerprint {expected})"
            return
        self.rejected = (
            None
            if signer == expected
            else f"the VTN's message failed its signature check: signed by the certificate of "
            f"fingerprint {signer}, not of {expected}"
        )

    async def _offer_reports(self, client: _Client) -> None:
        """TELEMETRY_USAGE of each site's EV load, at the granularity the VTN asks for:
        openleadr's scheduler samples and its queue sends (only they, not its polling)."""
        await client.register_reports(client.reports)
        if not client.scheduler.running:
            client.scheduler.start()
        if client.report_queue_task is None or client.report_queue_task.done():
            client.report_queue_task = asyncio.create_task(client._report_queue_worker())

    async def _register(self, client: _Client) -> None:
        answer, _ = await client.query_registration()
        if answer is None:
            self.failed("the VTN did not answer oadrQueryRegistration")
            return
        await client.create_party_registration(ven_id=client.ven_id)
        if client.registration_id is None:
            self.failed("the VTN did not register the VEN")
            return
        await self._note_registration(client)
        log.info("program %s: registered as VEN %s", self.program.id, client.ven_id)
        await self._offer_reports(client)
        await client.sync_events()  # the events the VTN holds for us now

    async def _note_registration(self, client: _Client) -> None:
        registered = client.registration_id is not None
        if (registered, client.ven_id) == (self.status.registered, self.status.ven_id):
            return
        self.status = replace(
            self.status,
            registered=registered,
            ven_id=client.ven_id,
            registration_id=client.registration_id,
        )
        if registered:
            await self.sink.registered(self.program.id, client.ven_id)

    async def _on_event(self, message: dict[str, Any]) -> str:
        """openleadr's on_event and on_update_event: the answer it sends the VTN."""
        try:
            event = event_of(self.program, message, self.clock.now())
            opt = await self.sink.received(event)
        except Exception:
            log.exception("program %s: an event could not be handled", self.program.id)
            return OptState.OUT.value
        out = self.sink.opted_out(self.program.id, event.event_id) if opt is OptState.IN else ()
        if out:  # after this answer: the opt qualifies an event already opted into
            task = asyncio.create_task(self._tell_opted_out(event, out))
            self.telling.add(task)
            task.add_done_callback(self.telling.discard)
        return opt.value

    async def _tell_opted_out(self, event: Event, out: tuple[tuple[str, str], ...]) -> None:
        """oadrCreateOpt, one per reason: these sites stay out of the event."""
        client = self.client
        if client is None:
            return
        by_reason: dict[str, list[str]] = {}
        for site_id, why in out:
            by_reason.setdefault(OPT_REASONS.get(why, "notParticipating"), []).append(site_id)
        for reason, sites in by_reason.items():
            try:
                told = await client.create_opt(
                    "optOut",
                    reason,
                    targets=[{"resource_id": site} for site in sites],
                    event_id=event.event_id,
                    modification_number=event.modification_number,
                )
            except Exception as error:  # the answer to the event stands; only this failed
                self.failed(f"oadrCreateOpt for event {event.event_id}: {error!r}")
                continue
            if not told:
                self.failed(f"the VTN did not take oadrCreateOpt for event {event.event_id}")

    async def _renew(self) -> None:
        """A fresh client: openleadr's drops its reports when a registration is cancelled."""
        await self._close()
        self.status = replace(self.status, registered=False, registration_id=None)
        self.client = self._client()

    async def stop(self) -> None:
        for task in list(self.telling):
            task.cancel()
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self._close()

    async def _close(self) -> None:
        client = self.client
        if client is None:
            return
        if client.scheduler.running:
            client.scheduler.shutdown(wait=False)
        if client.report_queue_task is not None:
            client.report_queue_task.cancel()
        if client.client_session is not None:
            await client.client_session.close()


class OpenAdrVens:
    """The running VENs (`services.demand_response.Vens`)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._vens: dict[str, _Ven] = {}

    async def start(self, program: Program, sink: EventSink) -> None:
        await self.stop(program.id)
        ven = _Ven(program, sink, self._clock)
        ven.task = asyncio.create_task(ven.run(), name=f"openadr-ven-{program.id}")
        self._vens[program.id] = ven

    async def stop(self, program_id: str) -> None:
        ven = self._vens.pop(program_id, None)
        if ven is not None:
            await ven.stop()

    async def stop_all(self) -> None:
        for program_id in list(self._vens):
            await self.stop(program_id)

    def status(self, program_id: str) -> ProgramStatus:
        ven = self._vens.get(program_id)
        return ven.status if ven else ProgramStatus()


def _reopen(client: _Client) -> None:
    """openleadr closes its HTTP session when a re-registration the VTN asked for fails
    (`create_party_reregistration` calls `stop`); a new one is made on the next request."""
    session = client.client_session
    if session is not None and session.closed:
        client.client_session = None


def event_of(program: Program, message: dict[str, Any], now: datetime) -> Event:
    """An oadrEvent as openleadr parsed it, as a domain Event (the answer not yet made).
    Of several signals the first AmpNexus acts on is kept (else the first): a plan follows
    one signal per event. Sites: those of the program the event's targets name as
    resource ids, else all the program's."""
    descriptor = message["event_descriptor"]
    signals = message.get("event_signals") or []
    if isinstance(signals, dict):
        signals = signals.get("event_signals", [])
    signal: dict[str, Any] = next(
        (s for s in signals if effect_of(s["signal_name"], s["signal_type"]) is not Effect.NONE),
        signals[0] if signals else {"signal_name": "", "signal_type": "", "intervals": []},
    )
    return Event(
        program_id=program.id,
        event_id=str(descriptor["event_id"]),
        modification_number=int(descriptor.get("modification_number") or 0),
        status=_status(descriptor.get("event_status")),
        signal_name=str(signal["signal_name"]),
        signal_type=str(signal["signal_type"]),
        intervals=_intervals(signal.get("intervals") or [], message.get("active_period") or {}),
        site_ids=_targeted_sites(program, message.get("targets") or []),
        opt=OptState.IN,
        opt_reason="",
        received_at=now,
        watts_per_unit=_watts_per_unit(signal.get("measurement")),
    )


def _status(value: Any) -> EventStatus:
    try:
        return EventStatus(str(value))
    except ValueError:
        return EventStatus.NONE


def _intervals(raw: list[dict[str, Any]], active: dict[str, Any]) -> tuple[Interval, ...]:
    """Each interval at its own start; one without a start follows the one before it, the
    first the event's active period (how OpenADR lays them out)."""
    out: list[Interval] = []
    start = active.get("dtstart")
    for item in raw:
        start = item.get("dtstart") or (out[-1].end if out else start)
        if start is None:
            continue
        duration = item.get("duration") or timedelta(0)
        value = float(item.get("signal_payload") or 0.0)
        out.append(Interval(utc(start), duration, value))
    return tuple(out)


def _targeted_sites(program: Program, targets: list[dict[str, Any]]) -> tuple[str, ...]:
    named = {str(t["resource_id"]) for t in targets if t.get("resource_id")}
    chosen = tuple(s for s in program.site_ids if s in named)
    return chosen or program.site_ids


def _watts_per_unit(measurement: Any) -> float:
    """An absolute signal's unit: W times its SI scale; kW when the VTN gives none."""
    if not isinstance(measurement, dict) or not measurement.get("unit"):
        return 1000.0
    unit = str(measurement["unit"])
    scale = SCALES.get(str(measurement.get("scale") or "none"), 1.0)
    return UNITS_W.get(unit, 1000.0) * (scale if unit == "W" else 1.0)
