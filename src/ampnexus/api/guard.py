"""What every HTTP request passes before the app reads it: its API key and scope, and the
size of its body.

Both are decided from the request head, so a request that will be refused costs no upload:
a 50 MB body without a valid key gets 401, and a Content-Length over the limit 413, before a
byte of it is read. A body without a Content-Length (chunked) is counted as it arrives and
cut off with 413 where it passes the limit. A pure ASGI middleware: nothing is buffered.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ampnexus.api.auth import STATE_KEY, Refusal, authenticate, authorize, is_secured
from ampnexus.config import MiB, Settings
from ampnexus.domain.firmware import UPLOADS_PATH

if TYPE_CHECKING:
    from ampnexus.services.api_keys import ApiKeyService

# Marks a route that takes long lists (openapi_extra): it gets the bulk body limit.
_BULK_MARK = "x-bulk-upload"
BULK_UPLOAD = {_BULK_MARK: True}
_CLOSE = {"Connection": "close"}
# A refused body up to this size is still read and dropped (uvicorn does so when the
# connection stays open): a client that sends its body before reading the answer would
# otherwise be reset by the close, and never see the 401 or 413. Larger ones, and chunked
# bodies of unknown size, are not worth the bandwidth: the connection is closed.
DRAIN_MAX = 4 * MiB
FIRMWARE_UPLOAD_PATH = "/api/v1/firmware"  # its own limit, as chargers' uploads have


@dataclass(frozen=True)
class BodyLimits:
    default: int = Settings.model_fields["http_max_body_bytes"].default
    bulk: int = Settings.model_fields["http_max_bulk_body_bytes"].default
    firmware: int = Settings.model_fields["firmware_max_bytes"].default  # POST /firmware
    upload: int = Settings.model_fields["upload_max_bytes"].default  # a charger's upload

    @classmethod
    def of(cls, settings: Settings) -> BodyLimits:
        return cls(
            settings.http_max_body_bytes,
            settings.http_max_bulk_body_bytes,
            settings.firmware_max_bytes,
            settings.upload_max_bytes,
        )


def size(count: int) -> str:
    """1048576 -> '1 MiB': limits as people write them."""
    if count % MiB == 0:
        return f"{count // MiB} MiB"
    return f"{count // 1024} KiB" if count % 1024 == 0 else f"{count} bytes"


def too_large(limit: int) -> str:
    return f"the request body is larger than the {size(limit)} this route accepts"


class BodyTooLarge(HTTPException):
    """Raised from `receive`: how much more of the body would come is unknown."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large(limit), headers=_CLOSE)


BulkRoutes = list[tuple[re.Pattern[str], frozenset[str]]]


def bulk_routes(routers: Iterable[APIRouter], prefix: str) -> BulkRoutes:
    """The routes marked BULK_UPLOAD, as path patterns and methods."""
    return [
        (compile_path(prefix + route.path)[0], frozenset(route.methods))
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute) and (route.openapi_extra or {}).get(_BULK_MARK)
    ]


def stating_bulk_limit(openapi: Callable[[], dict[str, Any]], limit: int) -> Callable[[], Any]:
    """`app.openapi`, with the limit in place of the mark on every bulk upload."""

    def with_limit() -> dict[str, Any]:
        schema = openapi()  # FastAPI builds it once; the mark is gone after the first call
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                if operation.pop(_BULK_MARK, False):
                    operation["x-max-body-bytes"] = limit
                    operation["description"] = (
                        f"{operation.get('description', '')}\n\nTakes bodies up to {size(limit)} "
                        "(`AMPNEXUS_HTTP_MAX_BULK_BODY_BYTES`); a larger one gets 413."
                    ).strip()
        return schema

    return with_limit


class RequestGuard:
    def __init__(
        self,
        app: ASGIApp,
        api_keys: ApiKeyService,
        limits: BodyLimits,
        bulk: BulkRoutes,
    ) -> None:
        self.app = app
        self._api_keys = api_keys
        self._limits = limits
        self._bulk = bulk

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        limit = self._body_limit(method, path)
        try:
            if is_secured(path):
                key = await authenticate(self._api_keys, _header(scope, b"authorization"))
                authorize(key, method, path)
                scope.setdefault("state", {})[STATE_KEY] = key
            declared = _header(scope, b"content-length")
            if declared and declared[0].isdigit() and int(declared[0]) > limit:
                raise Refusal(413, too_large(limit))
        except Refusal as refusal:
            headers = refusal.headers if _worth_draining(scope) else refusal.headers | _CLOSE
            response = JSONResponse({"detail": refusal.message}, refusal.status, headers)
            await response(scope, _no_body, send)
            return
        await self.app(scope, _counting(receive, limit), send)

    def _body_limit(self, method: str, path: str) -> int:
        if method in ("PUT", "POST") and path.startswith(f"{UPLOADS_PATH}/"):
            return self._limits.upload
        if method == "POST" and path == FIRMWARE_UPLOAD_PATH:
            return self._limits.firmware
        bulk = any(method in methods and regex.match(path) for regex, methods in self._bulk)
        return self._limits.bulk if bulk else self._limits.default


def _header(scope: Scope, name: bytes) -> list[str]:
    return [value.decode("latin-1") for key, value in scope["headers"] if key == name]


def _worth_draining(scope: Scope) -> bool:
    if _header(scope, b"transfer-encoding"):
        return False
    declared = _header(scope, b"content-length")
    return not declared or (declared[0].isdigit() and int(declared[0]) <= DRAIN_MAX)


async def _no_body() -> Message:
    return {"type": "http.disconnect"}


def _counting(receive: Receive, limit: int) -> Callable[[], Awaitable[Message]]:
    """`receive`, raising BodyTooLarge (a 413 for the app's error handler) once the body
    passes the limit: chunked bodies have no Content-Length to check beforehand."""
    received = 0

    async def receive_counted() -> Message:
        nonlocal received
        message: dict[str, Any] = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge(limit)
        return message

    return receive_counted
