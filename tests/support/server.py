"""A real AmpNexus for a test, and an API client with a key of its own."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx

from ampnexus.app import AmpNexus
from ampnexus.config import Settings
from ampnexus.domain.api_key import ApiKeyScope


@contextlib.asynccontextmanager
async def running(settings: Settings, **options: Any) -> AsyncIterator[AmpNexus]:
    """The server on its ports until the block ends (`options`: clock, planner)."""
    app = AmpNexus(settings, **options)
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


@contextlib.asynccontextmanager
async def api_client(
    app: AmpNexus,
    *,
    scope: ApiKeyScope = ApiKeyScope.ADMIN,
    secret: str | None = None,
    **options: Any,
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of /api/v1 with a new key of `scope`, or with `secret`; `options` go to
    httpx (e.g. `verify` for HTTPS)."""
    if secret is None:
        _, secret = await app.services.api_keys.create("tests", scope=scope)
    scheme = "https" if app.settings.tls_cert is not None else "http"
    async with httpx.AsyncClient(
        base_url=f"{scheme}://127.0.0.1:{app.http_port}/api/v1",
        headers={"Authorization": f"Bearer {secret}"},
        timeout=10,
        **options,
    ) as client:
        yield client
