"""The OCPP WebSocket gateway: admission at the upgrade, one session per charger,
frame routing, and the command port through which services call chargers.

    ws://HOST:9000/ocpp/{chargePointId}     subprotocol ocpp1.6
    wss://...                               with TLS (security profiles 2 and 3)

Admission happens before the upgrade so that an unknown charger gets HTTP 404
and a wrong password HTTP 401, as OCPP security profile 1 requires; a profile 2 or 3
charger that came without TLS, or a profile 3 one without its client certificate, 403.
Repeated failures get HTTP 429 without a password check (services/admission.py). What a
connected charger may send is bounded by ocpp/limits.py.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import contextvars
import logging
import ssl
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, NegotiationError
from websockets.http11 import Request, Response
from websockets.protocol import State

from ampnexus.domain.charge_point import RegistrationStatus
from ampnexus.domain.errors import (
    ChargerNotConnected,
    CommandFailed,
    CommandTimeout,
    DomainError,
    Invalid,
)
from ampnexus.ocpp.burst_log import BurstLog
from ampnexus.ocpp.errors import (
    INTERNAL_ERROR,
    NOT_IMPLEMENTED,
    NOT_SUPPORTED,
    SECURITY_ERROR,
    CallError,
)
from ampnexus.ocpp.framing import (
    Call,
    CallErrorFrame,
    CallResult,
    FrameError,
    decode,
    encode_call,
    encode_error,
    encode_result,
)
from ampnexus.ocpp.limits import FrameRateLimit, OcppLimits, check_sampled_values
from ampnexus.ocpp.routing import Context
from ampnexus.ocpp.v16 import schemas
from ampnexus.ocpp.v16.handlers import router
from ampnexus.services.admission import Refusal
from ampnexus.services.charge_points import Admission, Transport
from ampnexus.tls import client_common_name, client_organization

if TYPE_CHECKING:
    from ampnexus.app import Services

log = logging.getLogger(__name__)

SUBPROTOCOL = "ocpp1.6"
PATH_PREFIX = "/ocpp/"
# Whose message is being handled right now, so a handler cannot call its own charger.
# Tasks spawned meanwhile inherit the variable, hence the task in it: only the handler's
# own task is "inside" the message.
_handling: contextvars.ContextVar[tuple[str, asyncio.Task[Any] | None] | None] = (
    contextvars.ContextVar("handling", default=None)
)


@dataclass(eq=False)
class Session:
    """One charger's live connection and its protocol state."""

    charge_point_id: str
    websocket: ServerConnection
    registration: RegistrationStatus | None
    call_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    pending: tuple[str, str, asyncio.Future[Any]] | None = None  # (unique id, action, answer)

    async def send(self, frame: bytes) -> None:
        await self.websocket.send(frame, text=True)


class Gateway:
    def __init__(
        self, services: Services, command_timeout: float = 30.0, limits: OcppLimits | None = None
    ) -> None:
        self._services = services
        self._command_timeout = command_timeout
        self._limits = limits or OcppLimits()
        self._sessions: dict[str, Session] = {}
        self._servers: list[Server] = []
        self._background: set[asyncio.Task[None]] = set()
        # Refusals and bad frames repeat: one line per kind and charger (or address) a minute.
        self._warn = BurstLog(log).warning
        schemas.precompile()
        services.charge_points.on_registration_changed(self._registration_changed)

    # --- serving -------------------------------------------------------------------------
    async def start(self, host: str, port: int, ssl_context: ssl.SSLContext | None = None) -> int:
        """Serve chargers on this port (wss:// with a context); call again for another port.
        Returns the port bound."""
        server = await serve(
            self._serve_charger,
            host,
            port,
            subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
            select_subprotocol=_select_subprotocol,
            process_request=self._admit,
            server_header="AmpNexus",
            # permessage-deflate costs CPU and ~100 KiB of zlib state per socket; OCPP
            # frames are small, and one node must hold thousands of chargers.
            compression=None,
            max_size=self._limits.max_message_bytes,
            max_queue=self._limits.max_queue,
            ping_interval=60,
            ping_timeout=60,
            ssl=ssl_context,
        )
        self._servers.append(server)
        return int(next(iter(server.sockets)).getsockname()[1])

    async def stop(self) -> None:
        servers, self._servers = self._servers, []
        for server in servers:
            server.close()
        for server in servers:
            await server.wait_closed()
        for task in list(self._background):
            task.cancel()

    def is_connected(self, charge_point_id: str) -> bool:
        return charge_point_id in self._sessions

    async def disconnect(self, charge_point_id: str) -> None:
        session = self._sessions.get(charge_point_id)
        if session is not None:
            await session.websocket.close(1000, "closed by the operator")

    async def _registration_changed(
        self, charge_point_id: str, status: RegistrationStatus | None
    ) -> None:
        """An operator decided on a charger: a connected one learns it by booting again;
        a rejected or deleted one is disconnected."""
        session = self._sessions.get(charge_point_id)
        if session is None:
            return
        session.registration = status
        if status is RegistrationStatus.ACCEPTED:
            self._spawn(
                lambda: self.call(
                    charge_point_id, "TriggerMessage", {"requestedMessage": "BootNotification"}
                )
            )
        elif status is RegistrationStatus.REJECTED or status is None:
            await session.websocket.close(1008, "rejected or removed by the operator")

    # --- admission -----------------------------------------------------------------------
    async def _admit(self, connection: ServerConnection, request: Request) -> Response | None:
        charge_point_id = charge_point_id_from_path(request.path)
        if charge_point_id is None:
            return connection.respond(HTTPStatus.NOT_FOUND, "Use ws://host:port/ocpp/{id}\n")
        username, password = basic_credentials(request.headers)
        transport, address = _transport(connection), _peer_host(connection)
        admission = await self._services.charge_points.admit(
            charge_point_id, password, transport, username=username, address=address
        )
        if isinstance(admission, Refusal):
            return _refused(connection, admission)
        if admission is Admission.UNKNOWN:
            self._warn(
                ("unknown", address),
                "refused unknown charge point %r from %s",
                charge_point_id,
                address,
            )
            return connection.respond(HTTPStatus.NOT_FOUND, "Unknown charge point\n")
        if admission is Admission.UNAUTHORIZED:
            self._warn(
                ("credentials", charge_point_id),
                "refused charge point %r from %s: bad or missing credentials",
                charge_point_id,
                address,
            )
            return _unauthorized(connection)
        if admission is Admission.NEEDS_TLS:
            self._warn(
                ("tls", charge_point_id),
                "refused charge point %r: its security profile needs wss:// (TLS), "
                "it came over plain ws://",
                charge_point_id,
            )
            return connection.respond(HTTPStatus.FORBIDDEN, "Connect over wss:// (TLS)\n")
        if admission is Admission.NEEDS_CERTIFICATE:
            self._warn(
                ("certificate", charge_point_id, transport.client_cn),
                "refused charge point %r: security profile 3 needs a client certificate with "
                "CN=%s (and O=the --cpo-name, if set) from the CA of --tls-ca or "
                "--charger-ca-dir; it presented %s",
                charge_point_id,
                charge_point_id,
                _presented(transport),
            )
            return connection.respond(
                HTTPStatus.FORBIDDEN, "A client certificate for this charge point is required\n"
            )
        return None

    # --- a charger's connection ------------------------------------------------------------
    async def _serve_charger(self, websocket: ServerConnection) -> None:
        assert websocket.request is not None
        charge_point_id = charge_point_id_from_path(websocket.request.path)
        assert charge_point_id is not None
        services = self._services
        # Reachable as soon as the handshake is done: a command sent right after the charger
        # connected must not find it "not connected" while its registration is being read.
        session = Session(charge_point_id, websocket, None)
        replaced = self._sessions.get(charge_point_id)
        self._sessions[charge_point_id] = session
        services.charge_points.connected(charge_point_id)
        log.info("%s connected (%s)", charge_point_id, websocket.subprotocol or "no subprotocol")
        try:
            session.registration = await services.charge_points.registration_status(charge_point_id)
            if replaced is not None:
                log.info("%s reconnected; closing its previous connection", charge_point_id)
                await replaced.websocket.close(1000, "replaced by a new connection")
            await self._read_frames(session)
        except ConnectionClosed as closed:
            if closed.sent is not None and closed.sent.code == 1009:  # websockets closed it
                log.warning(
                    "%s sent a message over %d bytes; closed its connection (1009)",
                    charge_point_id,
                    self._limits.max_message_bytes,
                )
        finally:
            if self._sessions.get(charge_point_id) is session:
                del self._sessions[charge_point_id]
                services.charge_points.disconnected(charge_point_id)
            if session.pending is not None and not session.pending[2].done():
                session.pending[2].set_exception(ChargerNotConnected("charger disconnected"))
            log.info("%s disconnected", charge_point_id)

    async def _read_frames(self, session: Session) -> None:
        """Each frame is handled before the next is read. Above its rate a charger waits:
        its frames queue in its own socket buffers and TCP slows it down, not the others."""
        websocket, limits, loop = session.websocket, self._limits, asyncio.get_running_loop()
        rate = FrameRateLimit(limits.message_rate, limits.message_burst, loop.time())
        async for raw in websocket:
            now = loop.time()
            if delay := rate.delay(now):  # garbage costs a token like any frame
                if rate.throttled_for(now) >= limits.throttled_disconnect_seconds:
                    log.warning(
                        "%s sent over %g frames/s for %.0f s without a pause; disconnected",
                        session.charge_point_id,
                        limits.message_rate,
                        rate.throttled_for(now),
                    )
                    await _close_unread(websocket, 1008, "message rate limit exceeded")
                    return
                await asyncio.sleep(delay)
            if _closing_by_us(websocket):
                break  # no answer can reach the charger now; it resends what went unanswered
            await self._on_frame(session, raw)
        await _close_unread(websocket)

    async def _on_frame(self, session: Session, raw: str | bytes) -> None:
        self._services.charge_points.seen(session.charge_point_id)
        try:
            frame = decode(raw)
        except FrameError as error:
            self._warn(
                ("malformed", session.charge_point_id),
                "%s sent a malformed frame: %s",
                session.charge_point_id,
                error,
            )
            await session.send(encode_error(error.unique_id, error))
            return
        if isinstance(frame, Call):
            await self._on_call(session, frame)
        else:
            self._on_answer(session, frame)

    async def _on_call(self, session: Session, call: Call) -> None:
        ctx = Context(session.charge_point_id, self._services, session)
        token = _handling.set((session.charge_point_id, asyncio.current_task()))
        try:
            reply = encode_result(call.unique_id, await self._handle(ctx, call))
        except CallError as error:
            self._warn(
                ("refused", session.charge_point_id, call.action),
                "%s %s: %s",
                session.charge_point_id,
                call.action,
                error,
            )
            reply = encode_error(call.unique_id, error)
        except Exception:
            log.exception("%s %s failed", session.charge_point_id, call.action)
            reply = encode_error(
                call.unique_id, CallError(INTERNAL_ERROR, f"{call.action} could not be processed")
            )
        finally:
            _handling.reset(token)
        try:
            await session.send(reply)
        except ConnectionClosed:
            return  # gone: frames it sent before closing (answers to our CALLs) are still read
        for action in ctx._after:
            self._spawn(action)

    async def _handle(self, ctx: Context, call: Call) -> dict[str, Any]:
        handler = router.handlers.get(call.action)
        if handler is None:
            if call.action in schemas.ACTIONS:
                raise CallError(NOT_SUPPORTED, f"{call.action} is not supported by this CSMS")
            raise CallError(NOT_IMPLEMENTED, f"{call.action} is not an OCPP 1.6 action")
        schemas.validate_request(call.action, call.payload)
        check_sampled_values(call.action, call.payload, self._limits.max_sampled_values)
        if call.action != "BootNotification" and ctx.session.registration in (
            RegistrationStatus.PENDING,
            RegistrationStatus.REJECTED,
        ):
            raise CallError(
                SECURITY_ERROR, "charge point is not accepted: send a BootNotification first"
            )
        return await handler(ctx, call.payload)

    def _on_answer(self, session: Session, frame: CallResult | CallErrorFrame) -> None:
        pending = session.pending
        if pending is None or pending[0] != frame.unique_id or pending[2].done():
            self._warn(
                ("unknown answer", session.charge_point_id),
                "%s answered an unknown call %s",
                session.charge_point_id,
                frame.unique_id,
            )
            return
        pending[2].set_result(frame)

    # --- calling a charger (the services' command port) ---------------------------------------
    async def call(self, charge_point_id: str, action: str, payload: dict[str, Any]) -> Any:
        if _handling.get() == (charge_point_id, asyncio.current_task()):
            raise RuntimeError(f"{action} to {charge_point_id} from inside its own message")
        try:
            schemas.validate_request(action, payload)
        except CallError as error:
            raise Invalid(f"{action} would be invalid OCPP: {error.description}") from None
        session = self._sessions.get(charge_point_id)
        if session is None:
            raise ChargerNotConnected(f"charge point {charge_point_id!r} is not connected")
        async with session.call_lock:  # OCPP-J: one outstanding CALL per direction
            unique_id = str(uuid.uuid4())
            answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            session.pending = (unique_id, action, answer)
            try:
                # The send is timed too: to a charger that stopped reading it can block.
                async with asyncio.timeout(self._command_timeout):
                    await session.send(encode_call(unique_id, action, payload))
                    frame = await answer
            except TimeoutError:
                raise CommandTimeout(
                    f"{charge_point_id} did not answer {action} within {self._command_timeout:g} s"
                ) from None
            except ConnectionClosed:
                raise ChargerNotConnected(f"charge point {charge_point_id!r} went away") from None
            finally:
                session.pending = None
        if isinstance(frame, CallErrorFrame):
            raise CommandFailed(frame.code, frame.description)
        try:
            schemas.validate_response(action, frame.payload)
        except CallError as error:
            # An answer we cannot trust the meaning of is no answer: never a 200 to the caller.
            message = f"{charge_point_id} answered {action} off-schema: {error.description}"
            log.warning("%s", message)
            raise CommandFailed(error.code, error.description, message) from None
        return frame.payload

    def _spawn(self, action: Callable[[], Awaitable[None]]) -> None:
        async def run() -> None:
            try:
                await action()
            except DomainError as error:  # offline, silent or misbehaving: one line suffices
                log.warning("deferred action failed: %s", error)
            except Exception:
                log.exception("deferred action failed")

        task = asyncio.get_running_loop().create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def charge_point_id_from_path(path: str) -> str | None:
    path = path.split("?", 1)[0]
    if not path.startswith(PATH_PREFIX):
        return None
    charge_point_id = unquote(path[len(PATH_PREFIX) :])
    if not charge_point_id or "/" in charge_point_id:
        return None
    return charge_point_id


def basic_credentials(headers: Headers) -> tuple[str | None, str | None]:
    value = headers.get("Authorization")
    if not value or not value.lower().startswith("basic "):
        return None, None
    try:
        decoded = base64.b64decode(value[6:].strip(), validate=True).decode()
    except ValueError:
        return None, None
    username, _, password = decoded.partition(":")
    return username, password


def _transport(connection: ServerConnection) -> Transport:
    ssl_object = connection.transport.get_extra_info("ssl_object")
    return Transport(
        tls=ssl_object is not None,
        client_cn=client_common_name(ssl_object),
        client_organization=client_organization(ssl_object),
    )


def _presented(transport: Transport) -> str:
    if not transport.client_cn:
        return "none"
    organization = f", O={transport.client_organization}" if transport.client_organization else ""
    return f"CN={transport.client_cn}{organization}"


def _unauthorized(connection: ServerConnection) -> Response:
    response = connection.respond(HTTPStatus.UNAUTHORIZED, "Unauthorized\n")
    response.headers["WWW-Authenticate"] = 'Basic realm="AmpNexus OCPP", charset="UTF-8"'
    return response


async def _close_unread(websocket: ServerConnection, code: int = 1000, reason: str = "") -> None:
    """Close, discarding frames still unread: the peer's close reply is queued behind them,
    and the handshake would otherwise wait out the close timeout. (Does nothing to a
    connection already closed; the close timeout still bounds a peer that never replies.)"""
    closing = asyncio.ensure_future(websocket.close(code, reason))
    with contextlib.suppress(ConnectionClosed):
        async for _ in websocket:
            pass
    await closing


def _closing_by_us(websocket: ServerConnection) -> bool:
    """We sent a close (shutdown, replaced, flood) and the charger's reply is not read yet."""
    return websocket.state is not State.OPEN and websocket.protocol.close_rcvd is None


def _refused(connection: ServerConnection, refusal: Refusal) -> Response:
    if refusal.busy:
        response = connection.respond(
            HTTPStatus.SERVICE_UNAVAILABLE, "Too many password checks at once; retry later\n"
        )
    else:
        response = connection.respond(
            HTTPStatus.TOO_MANY_REQUESTS, "Too many failed attempts; retry later\n"
        )
    response.headers["Retry-After"] = str(refusal.retry_after)
    return response


def _peer_host(connection: ServerConnection) -> str | None:
    """The peer's IP address as the socket sees it. Never a header: anyone can forge one."""
    peer = connection.remote_address
    return str(peer[0]) if isinstance(peer, tuple) and peer else None


def _select_subprotocol(connection: ServerConnection, offered: Any) -> Any:
    """Serve chargers that offer no subprotocol (many do); refuse ones that offer only others."""
    if SUBPROTOCOL in offered:
        return SUBPROTOCOL
    if not offered:
        return None
    raise NegotiationError(f"unsupported subprotocol; this server speaks {SUBPROTOCOL}")
