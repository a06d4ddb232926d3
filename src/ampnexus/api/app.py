"""The FastAPI application: routers, key auth and scopes, body limits, JSON errors, offline
interactive docs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import swagger_ui_bundle
from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from ampnexus import __version__
from ampnexus.api.auth import PREFIX, require_api_key
from ampnexus.api.errors import install_error_handlers
from ampnexus.api.event_docs import document_events
from ampnexus.api.guard import BodyLimits, RequestGuard, bulk_routes, size, stating_bulk_limit
from ampnexus.api.routers import (
    alerts,
    api_keys,
    charge_points,
    charger_files,
    demand_response,
    driver_profiles,
    energy,
    events,
    files,
    firmware,
    health,
    id_tags,
    local_lists,
    modes,
    needs,
    operator_profiles,
    plans,
    reservations,
    security,
    site_series,
    sites,
    tariffs,
    transactions,
    webhooks,
)
from ampnexus.portal.app import install_portal

if TYPE_CHECKING:
    from ampnexus.app import Services

SECURED = (
    charge_points,
    security,
    transactions,
    id_tags,
    api_keys,
    alerts,
    sites,
    tariffs,
    site_series,
    driver_profiles,
    needs,
    modes,
    energy,
    operator_profiles,
    plans,
    reservations,
    webhooks,
    events,
    demand_response,
    local_lists,
    firmware,
    charger_files,
)
SWAGGER_ASSETS = Path(swagger_ui_bundle.swagger_ui_path)

DESCRIPTION = """
The AmpNexus charge point management API.

Every route but `/api/v1/health` and these docs needs an API key:
`Authorization: Bearer <key>` (one space, nothing after the key). Create the first one with
`ampnexus apikey create --name NAME`. A key has a scope: `read` (GET and HEAD only),
`operator` (everything but API keys) or `admin` (everything, including `/api-keys`).

Lists are paginated with `limit` and `offset` and answer `{{items, total, limit, offset}}`.
Request bodies may be up to {default}; the bulk uploads (a tariff's prices, a site's meter,
solar and carbon series) up to {bulk}.

Events (sessions, charger status, plans, alerts) reach integrators as signed webhooks
(`/api/v1/webhooks`; each event's payload is under "webhooks" in this document) and as a
live Server-Sent Events stream (`/api/v1/events`, resumable with `Last-Event-ID`).

Errors are JSON with a `detail` message: 401 without a valid key (checked before the body
is read), 403 when the key's scope is not enough (the message names the scope needed), 404
for unknown resources, 409 for conflicts (including a charger that is not connected), 413
for a body over the limit, 422 for invalid input (strings have maximum lengths too), 502
when a charger answers a command with an OCPP CALLERROR or an answer that cannot be read,
and 504 when it does not answer in time.
"""


def create_api(
    services: Services,
    gateway: Any = None,
    limits: BodyLimits | None = None,
    secure_cookies: bool = False,
) -> FastAPI:
    """`secure_cookies`: the portal's cookies only over HTTPS (AmpNexus serves TLS)."""
    limits = limits or BodyLimits()
    app = FastAPI(
        title="AmpNexus",
        version=__version__,
        description=DESCRIPTION.format(default=size(limits.default), bulk=size(limits.bulk)),
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = services
    install_error_handlers(app)
    document_events(app)

    app.include_router(health.router, prefix=PREFIX)
    app.include_router(files.router)  # chargers' downloads and uploads: no API key
    secured = APIRouter(prefix=PREFIX, dependencies=[Depends(require_api_key)])
    for module in SECURED:
        secured.include_router(module.router)
    app.include_router(secured)
    bulk = bulk_routes((module.router for module in SECURED), PREFIX)
    app.add_middleware(RequestGuard, api_keys=services.api_keys, limits=limits, bulk=bulk)
    app.openapi = stating_bulk_limit(app.openapi, limits.bulk)  # type: ignore[method-assign]

    app.mount(f"{PREFIX}/docs/assets", StaticFiles(directory=SWAGGER_ASSETS), name="docs-assets")

    @app.get(f"{PREFIX}/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=f"{PREFIX}/openapi.json",
            title="AmpNexus API",
            swagger_js_url=f"{PREFIX}/docs/assets/swagger-ui-bundle.js",
            swagger_css_url=f"{PREFIX}/docs/assets/swagger-ui.css",
            swagger_favicon_url=f"{PREFIX}/docs/assets/favicon-32x32.png",
        )

    install_portal(app, services, secure_cookies)  # the portal takes `/` and the rest
    return app
