"""The FastAPI application: routers, key auth, JSON errors, offline interactive docs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import swagger_ui_bundle
from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from ampnexus import __version__
from ampnexus.api.auth import require_api_key
from ampnexus.api.errors import install_error_handlers
from ampnexus.api.routers import (
    alerts,
    api_keys,
    charge_points,
    driver_profiles,
    health,
    id_tags,
    needs,
    plans,
    site_series,
    sites,
    tariffs,
    transactions,
)

if TYPE_CHECKING:
    from ampnexus.app import Services

PREFIX = "/api/v1"
SWAGGER_ASSETS = Path(swagger_ui_bundle.swagger_ui_path)

DESCRIPTION = """
The AmpNexus charge point management API.

Every route but `/api/v1/health` needs an API key: `Authorization: Bearer <key>`.
Create one with `ampnexus apikey create --name NAME`.

Lists are paginated with `limit` and `offset` and answer `{items, total, limit, offset}`.
Errors are JSON with a `detail` message: 401 without a valid key, 404 for unknown
resources, 409 for conflicts (including a charger that is not connected), 422 for
invalid input, 502 when a charger answers a command with an OCPP CALLERROR, and 504
when it does not answer in time.
"""


def create_api(services: Services, gateway: Any = None) -> FastAPI:
    app = FastAPI(
        title="AmpNexus",
        version=__version__,
        description=DESCRIPTION,
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = services
    install_error_handlers(app)

    app.include_router(health.router, prefix=PREFIX)
    secured = APIRouter(prefix=PREFIX, dependencies=[Depends(require_api_key)])
    for module in (charge_points, transactions, id_tags, api_keys, alerts):
        secured.include_router(module.router)
    for module in (sites, tariffs, site_series, driver_profiles, needs, plans):
        secured.include_router(module.router)
    app.include_router(secured)

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

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/docs")

    return app
