"""Composition root: builds storage, services, the OCPP gateway and the HTTP API, and
runs them in one process on one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import logging
import signal
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

import uvicorn

from ampnexus.api.http_server import server_config
from ampnexus.bus.local import LocalBus
from ampnexus.charging.planner import plan
from ampnexus.config import Settings
from ampnexus.domain.errors import ChargerNotConnected
from ampnexus.domain.time import Clock, SystemClock, TimeWindow
from ampnexus.errors import PortUnavailable
from ampnexus.grid.openadr import OpenAdrVens
from ampnexus.log_redaction import redact_secrets_in_logs
from ampnexus.ocpp.v16.commands import RawCall, V16Commands
from ampnexus.ocpp.v16.security import V16SecurityCommands  # its handlers join the router
from ampnexus.services.admission import AdmissionThrottle
from ampnexus.services.alerts import AlertService
from ampnexus.services.api_keys import ApiKeyService
from ampnexus.services.authorization import AuthorizationService
from ampnexus.services.charge_points import ChargePointService, UnknownChargers
from ampnexus.services.commands import CommandService
from ampnexus.services.data_transfer import DataTransferService
from ampnexus.services.demand_response import DemandResponseService
from ampnexus.services.drivers import DriverProfileService
from ampnexus.services.energy import EnergyService
from ampnexus.services.feed import EventFeed
from ampnexus.services.file_ports import FileCommands
from ampnexus.services.firmware import FirmwareService
from ampnexus.services.local_list import LocalListCommands, LocalListService
from ampnexus.services.modes import ModeService
from ampnexus.services.needs import NeedService
from ampnexus.services.operator_profiles import OperatorProfiles
from ampnexus.services.overrides import OverrideService
from ampnexus.services.plug_and_charge import PlugAndCharge
from ampnexus.services.ports import ChargerCommands
from ampnexus.services.presence import Presence
from ampnexus.services.remote_starts import RemoteStarts
from ampnexus.services.reservations import ReservationCommands, ReservationService
from ampnexus.services.security import SecurityCommands, SecurityService
from ampnexus.services.site_series import SeriesService
from ampnexus.services.sites import SiteService
from ampnexus.services.smart_charging import Planner, SmartChargingService
from ampnexus.services.tariffs import TariffService
from ampnexus.services.transactions import TransactionService
from ampnexus.services.uploads import UploadService
from ampnexus.services.users import LoginThrottle, UserService
from ampnexus.services.webhooks import WebhookSender, WebhookService
from ampnexus.store.alerts import SqlAlertStore
from ampnexus.store.api_keys import SqlApiKeyStore
from ampnexus.store.charge_points import SqlChargePointStore
from ampnexus.store.data_transfers import SqlDataTransferStore
from ampnexus.store.database import Database
from ampnexus.store.demand_response import SqlDemandResponseStore
from ampnexus.store.drivers import SqlDriverProfileStore
from ampnexus.store.feed import SqlFeedStore
from ampnexus.store.files import DiskFileStore
from ampnexus.store.firmware import SqlFileTransferStore
from ampnexus.store.id_tags import SqlIdTagStore
from ampnexus.store.local_lists import SqlLocalListStore
from ampnexus.store.modes import SqlModeStore
from ampnexus.store.needs import SqlNeedStore
from ampnexus.store.operator_profiles import SqlOperatorProfileStore
from ampnexus.store.reservations import SqlReservationStore
from ampnexus.store.security import SqlSecurityStore
from ampnexus.store.series import SqlSeriesStore
from ampnexus.store.sites import SqlSiteStore
from ampnexus.store.tariffs import SqlTariffStore
from ampnexus.store.transactions import SqlTransactionStore
from ampnexus.store.users import SqlPortalSessionStore, SqlUserStore
from ampnexus.store.webhooks import SqlWebhookStore
from ampnexus.tls import TlsContexts, load_tls
from ampnexus.webhook_sender import HttpWebhookSender

log = logging.getLogger("ampnexus")

LAST_SEEN_FLUSH_SECONDS = 15.0


@dataclass
class Services:
    clock: Clock
    bus: LocalBus
    alerts: AlertService
    charge_points: ChargePointService
    authorization: AuthorizationService
    transactions: TransactionService
    data_transfer: DataTransferService
    api_keys: ApiKeyService
    commands: CommandService
    charger_commands: ChargerCommands  # the port itself, for services that need no checks
    sites: SiteService
    tariffs: TariffService
    site_series: SeriesService
    drivers: DriverProfileService
    needs: NeedService
    modes: ModeService
    overrides: OverrideService
    energy: EnergyService
    operator_profiles: OperatorProfiles  # what operators set: bounds smart charging keeps
    time_window: TimeWindow  # where a charger's timestamps are believed
    feed: EventFeed  # the public events: webhooks deliver them, /events streams them
    webhooks: WebhookService
    users: UserService  # the portal's users and their signed-in sessions
    demand_response: DemandResponseService  # OpenADR programs, their VENs and events
    reservations: ReservationService  # ReserveNow / CancelReservation and their records
    smart_charging: SmartChargingService = field(init=False)
    firmware: FirmwareService = field(init=False)  # firmware served, updates, rollouts
    uploads: UploadService = field(init=False)  # diagnostics and logs chargers upload
    security: SecurityService = field(init=False)  # the OCPP security extension
    plug_and_charge: PlugAndCharge = field(init=False)
    local_lists: LocalListService = field(init=False)  # chargers' local authorization lists


class ChargerProtocol(
    ChargerCommands, LocalListCommands, FileCommands, ReservationCommands, Protocol
):
    """Every command of the profiles chargers speak, in domain terms: the common port
    smart charging and the API use, plus each profile's own (each service takes its own)."""


def build_services(
    db: Database,
    settings: Settings,
    clock: Clock,
    port: ChargerProtocol,
    planner: Planner = plan,
    sender: WebhookSender | None = None,
    security_port: SecurityCommands | None = None,
) -> Services:
    """`port`: what chargers are told, in domain terms (`V16Commands` speaks it as OCPP 1.6J);
    `security_port`: the security extension's commands (`V16SecurityCommands`)."""
    bus = LocalBus()
    feed = EventFeed(SqlFeedStore(db))
    feed.attach(bus)
    charge_points = ChargePointService(
        SqlChargePointStore(db),
        Presence(),
        clock,
        heartbeat_interval=settings.heartbeat_interval,
        unknown_chargers=UnknownChargers(settings.unknown_chargers),
        events=bus,
        max_security_profile=settings.max_security_profile,
        organization=settings.cpo_name,
        throttle=AdmissionThrottle(
            per_charger=settings.ocpp_failed_upgrades_per_charger,
            per_address=settings.ocpp_failed_upgrades_per_address,
            window=settings.ocpp_failed_upgrades_window,
        ),
    )
    authorization = AuthorizationService(SqlIdTagStore(db), clock, bus)
    data_transfer = DataTransferService(SqlDataTransferStore(db), clock)
    alerts = AlertService(SqlAlertStore(db), clock, bus)
    remote_starts = RemoteStarts(clock)  # sent by commands, matched by transactions
    operator_profiles = OperatorProfiles(SqlOperatorProfileStore(db), clock, bus)
    site_services = _site_services(db, clock, bus)
    reservations = ReservationService(
        SqlReservationStore(db), port, charge_points, authorization, clock, bus
    )
    reservations.attach(bus)  # a Faulted or Unavailable connector drops its reservations
    services = Services(
        clock=clock,
        bus=bus,
        alerts=alerts,
        charge_points=charge_points,
        authorization=authorization,
        transactions=TransactionService(
            SqlTransactionStore(db),
            authorization,
            clock,
            alerts,
            bus,
            remote_starts,
            progress_interval_s=settings.session_update_interval,
            reservations=reservations,
        ),
        data_transfer=data_transfer,
        api_keys=ApiKeyService(SqlApiKeyStore(db), clock),
        commands=CommandService(
            port,
            charge_points,
            data_transfer,
            SqlTransactionStore(db),
            remote_starts,
            operator_profiles,
        ),
        charger_commands=port,
        **site_services,
        modes=ModeService(SqlModeStore(db), SqlChargePointStore(db), SqlSiteStore(db), clock, bus),
        overrides=OverrideService(SqlModeStore(db), SqlTransactionStore(db), clock, bus),
        energy=EnergyService(
            SqlTransactionStore(db),
            SqlChargePointStore(db),
            SqlSiteStore(db),
            site_services["tariffs"],
            clock,
        ),
        operator_profiles=operator_profiles,
        time_window=TimeWindow(
            ahead=timedelta(hours=settings.timestamp_max_ahead_hours),
            behind=timedelta(days=settings.timestamp_max_age_days),
        ),
        feed=feed,
        webhooks=WebhookService(
            SqlWebhookStore(db),
            feed,
            sender or HttpWebhookSender(settings.webhook_timeout),
            clock,
            alerts,
            refuse_private=settings.webhook_refuse_private,
            retry_window=timedelta(hours=settings.webhook_retry_hours),
            retention=timedelta(days=settings.event_retention_days),
        ),
        users=UserService(
            SqlUserStore(db),
            SqlPortalSessionStore(db),
            clock,
            throttle=LoginThrottle(
                clock,
                per_account=settings.portal_failed_logins_per_account,
                per_address=settings.portal_failed_logins_per_address,
                window=settings.portal_failed_logins_window,
            ),
        ),
        demand_response=DemandResponseService(
            SqlDemandResponseStore(db), OpenAdrVens(clock), site_services["sites"], clock, bus
        ),
        reservations=reservations,
    )
    services.smart_charging = SmartChargingService(
        sites=services.sites,
        sessions=services.transactions,
        needs=services.needs,
        signals=services.site_series,
        prices=services.tariffs,
        presence=services.charge_points,
        commands=services.charger_commands,
        planner=planner,
        clock=clock,
        alerts=services.alerts,
        reading_margin=settings.reading_margin,
        slot_seconds=settings.plan_slot_seconds,
        horizon_slots=settings.plan_horizon_hours * 3600 // settings.plan_slot_seconds,
        history=SqlTransactionStore(db),
        forecast_weeks=settings.forecast_weeks,
        profile_deadline_s=settings.profile_deadline,
        replan_gap_s=settings.replan_gap,
        modes=services.modes,
        operator=operator_profiles,
        demand_response=services.demand_response,
        reservations=reservations,
    )
    services.demand_response.attach_load(services.smart_charging)  # for its VENs' reports
    services.needs.attach(bus)  # its cache drops what changed before any replan reads it
    operator_profiles.attach(bus)
    services.smart_charging.attach(bus)
    services.plug_and_charge = PlugAndCharge(
        services.modes, authorization, services.transactions, services.commands, clock
    )
    services.plug_and_charge.attach(bus)
    services.local_lists = _local_lists(db, settings, clock, port, services)
    _file_services(services, db, settings, port)
    services.security = _security_service(db, settings, clock, services, security_port)
    return services


def _local_lists(
    db: Database, settings: Settings, clock: Clock, port: LocalListCommands, services: Services
) -> LocalListService:
    local_lists = LocalListService(
        SqlLocalListStore(db),
        SqlIdTagStore(db),
        port,
        services.charge_points,
        services.alerts,
        clock,
    )
    if settings.local_list_sync:
        local_lists.attach(services.bus)
    return local_lists


def _file_services(
    services: Services, db: Database, settings: Settings, commands: FileCommands
) -> None:
    store, files = SqlFileTransferStore(db), DiskFileStore(settings.data_dir / "files")
    services.firmware = FirmwareService(
        store,
        files,
        commands,
        services.charge_points,
        services.alerts,
        services.clock,
        settings.firmware_max_bytes,
        settings.files_url,
    )
    services.uploads = UploadService(
        store,
        files,
        commands,
        services.charge_points,
        services.clock,
        settings.upload_max_bytes,
        settings.files_url,
    )


def _security_service(
    db: Database,
    settings: Settings,
    clock: Clock,
    services: Services,
    port: SecurityCommands | None,
) -> SecurityService:
    from ampnexus.charger_pki import ManagedCa, PemCertificates

    ca_dir = settings.charger_ca_dir
    return SecurityService(
        SqlSecurityStore(db),
        port or V16SecurityCommands(_NoLink()),
        services.charger_commands,
        services.charge_points,
        services.alerts,
        PemCertificates(),
        clock,
        authority=ManagedCa(ca_dir, settings.cpo_name) if ca_dir is not None else None,
        organization=settings.cpo_name,
    )


class _NoLink:
    """For services built without a gateway (tests of other services)."""

    async def call(self, charge_point_id: str, action: str, payload: dict[str, Any]) -> Any:
        raise ChargerNotConnected(f"charge point {charge_point_id!r} is not connected")


def _site_services(db: Database, clock: Clock, bus: LocalBus) -> dict[str, Any]:
    """Sites, tariffs, series, driver profiles and needs: what plans are made from."""
    sites, drivers = SqlSiteStore(db), SqlDriverProfileStore(db)
    return {
        "sites": SiteService(sites, clock, bus),
        "tariffs": TariffService(SqlTariffStore(db), sites, clock),
        "site_series": SeriesService(SqlSeriesStore(db), sites, clock, bus),
        "drivers": DriverProfileService(drivers, clock, bus),
        "needs": NeedService(
            SqlNeedStore(db), SqlTransactionStore(db), SqlIdTagStore(db), drivers, clock, bus
        ),
    }


class _LateLink:
    """Breaks the services <-> gateway cycle: the gateway is built after the services."""

    target: RawCall | None = None

    async def call(self, charge_point_id: str, action: str, payload: dict[str, Any]) -> Any:
        assert self.target is not None
        return await self.target.call(charge_point_id, action, payload)


class AmpNexus:
    """The whole server. `start()` binds both ports; `stop()` lets every write land."""

    def __init__(
        self, settings: Settings, clock: Clock | None = None, planner: Planner = plan
    ) -> None:
        """`planner`: what turns a site's state into a plan (tests put in one that fails)."""
        from ampnexus.api.app import create_api
        from ampnexus.api.guard import BodyLimits
        from ampnexus.ocpp.gateway import Gateway
        from ampnexus.ocpp.limits import OcppLimits

        redact_secrets_in_logs()  # whoever configured logging: chargers' passwords stay out
        self.settings = settings
        self.db = Database(settings.database_url)
        link, clock = _LateLink(), clock or SystemClock()
        commands = V16Commands(link, clock)  # the protocol chargers speak: OCPP 1.6J
        self.services = build_services(
            self.db,
            settings,
            clock,
            commands,
            planner,
            security_port=V16SecurityCommands(link),
        )
        self.gateway = Gateway(
            self.services,
            command_timeout=settings.command_timeout,
            limits=OcppLimits(
                message_rate=settings.ocpp_message_rate,
                message_burst=settings.ocpp_message_burst,
                throttled_disconnect_seconds=settings.ocpp_throttled_disconnect_seconds,
                max_message_bytes=settings.ocpp_max_message_bytes,
                max_sampled_values=settings.ocpp_max_sampled_values,
            ),
        )
        link.target = self.gateway
        self.api = create_api(
            self.services,
            self.gateway,
            BodyLimits.of(settings),
            secure_cookies=settings.tls_cert is not None,
        )
        self.ocpp_port = 0
        self.ocpp_plain_port: int | None = None  # plain ws:// next to TLS, if configured
        self.http_port = 0
        self._tls: TlsContexts | None = None
        self._http: uvicorn.Server | None = None
        self._http_task: asyncio.Task[None] | None = None
        self._flush_task: asyncio.Task[None] | None = None
        self._replan_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Raises StartupError, with what to do about it, if the database cannot be used
        or a port cannot be bound, or the TLS files cannot be used."""
        self._tls = load_tls(self.settings)  # before the database: a typo costs no migration
        await asyncio.to_thread(self.db.migrate)
        self.db.start()
        try:
            await self._listen()
        except BaseException:
            await self.stop()
            raise

    async def _listen(self) -> None:
        host, tls, plain_port = self.settings.host, self._tls, self.settings.ocpp_plain_port
        with _binding(host, self.settings.ocpp_port, "OCPP", "--ocpp-port"):
            self.ocpp_port = await self.gateway.start(
                host, self.settings.ocpp_port, tls.ocpp if tls else None
            )
        if plain_port is not None:
            with _binding(host, plain_port, "plain OCPP", "--ocpp-plain-port"):
                self.ocpp_plain_port = await self.gateway.start(host, plain_port)
        with _binding(host, self.settings.http_port, "HTTP", "--http-port"):
            sock = _bind(host, self.settings.http_port)
        self.http_port = sock.getsockname()[1]
        config = server_config(self.api, self.settings, tls.http if tls else None)
        self._http = _QuietServer(config)
        self._http_task = asyncio.create_task(self._http.serve(sockets=[sock]))
        # Events left undelivered before a restart go now.
        self.services.webhooks.start(node=f"{socket.gethostname()}:{self.http_port}")
        self._flush_task = asyncio.create_task(self._flush_last_seen())
        self._replan_task = asyncio.create_task(self._replan_periodically())
        await self.services.demand_response.start()  # each program's VEN registers again
        self.services.reservations.start()  # the expiry timer
        while not self._http.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._http is not None:
            self._http.should_exit = True
        await self.gateway.stop()
        await self.services.demand_response.stop()
        for task in (self._flush_task, self._replan_task):
            if task is not None:
                task.cancel()
        await self.services.smart_charging.stop()
        await self.services.plug_and_charge.stop()
        await self.services.reservations.stop()
        await self.services.local_lists.stop()
        await self.services.operator_profiles.drain()
        await self.services.webhooks.stop()  # an undelivered event stays pending: sent later
        await self.services.feed.drain()
        await asyncio.gather(
            *filter(None, (self._http_task, self._flush_task, self._replan_task)),
            return_exceptions=True,
        )
        await self.services.charge_points.flush_last_seen()
        self.services.charge_points.close()
        self.services.users.close()
        await asyncio.to_thread(self.db.close)

    async def run_until_signalled(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await self.start()
        _tune_garbage_collector()
        secure = "s" if self._tls else ""
        log.info(
            "AmpNexus serving OCPP on ws%s://%s:%d/ocpp/{id} and HTTP on http%s://%s:%d (%s)",
            *(secure, self.settings.host, self.ocpp_port),
            *(secure, self.settings.host, self.http_port),
            self.db.dialect,
        )
        if self.ocpp_plain_port is not None:
            log.info(
                "and plain OCPP on ws://%s:%d/ocpp/{id}", self.settings.host, self.ocpp_plain_port
            )
        if self._tls is None and not _loopback(self.settings.host):
            log.warning(
                "no TLS: passwords and API keys cross the network readable; on the internet "
                "give --tls-cert and --tls-key, or bind 127.0.0.1 behind a TLS reverse proxy"
            )
        await stop.wait()
        log.info("shutting down")
        await self.stop()

    async def _replan_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.settings.replan_interval)
            await self.services.smart_charging.replan_all()

    async def _flush_last_seen(self) -> None:
        while True:
            await asyncio.sleep(LAST_SEEN_FLUSH_SECONDS)
            try:
                await self.services.charge_points.flush_last_seen()
            except Exception:
                log.exception("could not store last-seen times")


class _QuietServer(uvicorn.Server):
    """uvicorn inside our loop: AmpNexus owns the signals, not uvicorn."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.contextmanager
def _binding(host: str, port: int, what: str, flag: str) -> Iterator[None]:
    try:
        yield
    except OSError as error:
        reason = "is in use" if error.errno == errno.EADDRINUSE else f"cannot be bound ({error})"
        raise PortUnavailable(
            f"the {what} port {port} on {host} {reason}: choose another with {flag} "
            f"(or AMPNEXUS_{flag[2:].replace('-', '_').upper()})"
        ) from error


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # Naming the protocol lets asyncio set TCP_NODELAY on every accepted connection: without
    # it, a response written in two parts waited for the client's delayed ACK (~40 ms).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def _loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


def _tune_garbage_collector() -> None:
    """With a thousand chargers connected, each full collection scans a few million objects
    and stops every thread for 100-160 ms; at the default thresholds that came every 3 s
    under load, and was the whole p99 latency. Reference counting frees almost all our
    garbage, so the cycle collector can run far less often: young collections every 20,000
    net allocations instead of 700, full ones after 20 x 50 of those (minutes apart, not
    seconds). What start-up built lives as long as the process: frozen out of every scan."""
    gc.freeze()
    gc.set_threshold(20_000, 20, 50)
