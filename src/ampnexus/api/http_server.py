"""uvicorn as the HTTP API runs it: idle, header-size and connection limits, and a deadline
for the request head.

uvicorn has no timeout for a client that sends its request headers slowly (slowloris): a
byte now and then cancels its keep-alive timer, so a few hundred such clients would hold
every connection for ever. Here a request head must arrive in full within
`http_header_timeout` seconds of the connection opening or of the previous response.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from ampnexus.config import Settings


class HeadDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request head is overdue."""

    head_timeout = 10.0
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch_head()

    def handle_events(self) -> None:
        super().handle_events()
        self._watch_head()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def _watch_head(self) -> None:
        """The timer runs while h11 waits for a request to begin or finish its head."""
        waiting = self.conn.their_state is h11.IDLE and self.conn.our_state is h11.IDLE
        if not waiting:
            self._stop_head_timer()
        elif self._head_timer is None and not self.transport.is_closing():
            self._head_timer = self.loop.call_later(self.head_timeout, self._head_overdue)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_overdue(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.logger.debug("closing a connection: no request head within %ss", self.head_timeout)
            self.transport.close()


class _Config(uvicorn.Config):
    """uvicorn with our own SSL context (the one start-up checked), not one it builds."""

    def __init__(self, app: Any, ssl_context: ssl.SSLContext | None, **options: Any) -> None:
        super().__init__(app, **options)
        self._ssl_context = ssl_context

    def load(self) -> None:
        super().load()
        self.ssl = self._ssl_context


def server_config(
    app: Any, settings: Settings, ssl_context: ssl.SSLContext | None = None
) -> uvicorn.Config:
    protocol = type(
        "HeadDeadlineProtocol",
        (HeadDeadlineProtocol,),
        {"head_timeout": settings.http_header_timeout},
    )
    return _Config(
        app,
        ssl_context,
        http=protocol,
        timeout_keep_alive=settings.http_keep_alive_timeout,  # type: ignore[arg-type]
        limit_concurrency=settings.http_max_connections,
        h11_max_incomplete_event_size=settings.http_max_header_bytes,
        log_config=None,
        access_log=False,
        lifespan="off",
    )
