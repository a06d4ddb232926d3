"""The operator portal: server-rendered pages (Jinja2) with htmx, served by the same process
as the API and calling the same services (ADR 0011). Each part of the portal is a module of
`pages/` with its own router; `auth` says who may see and change what."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from ampnexus.portal.assets import assets_router
from ampnexus.portal.auth import Refused
from ampnexus.portal.pages import (
    api_keys,
    charge_points,
    charger_commands,
    charger_mode,
    dashboard,
    drivers,
    live,
    sessions,
    sign_in,
    sites,
    tariffs,
    users,
    webhooks,
)
from ampnexus.portal.render import templates

if TYPE_CHECKING:
    from ampnexus.app import Services

HERE = Path(__file__).parent
PAGES = (
    sign_in,
    dashboard,
    live,
    sites,
    charge_points,
    charger_mode,
    charger_commands,
    sessions,
    drivers,
    tariffs,
    webhooks,
    users,
    api_keys,
)


def install_portal(app: FastAPI, services: Services, secure_cookies: bool) -> None:
    app.state.secure_cookies = secure_cookies
    app.include_router(assets_router())
    for module in PAGES:
        app.include_router(module.router, include_in_schema=False)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="portal-static")

    @app.exception_handler(Refused)
    async def refused(request: Request, error: Refused) -> Response:
        name = "_flash.html" if request.headers.get("HX-Request") else "refused.html"
        context = {"message": str(error), "ok": False, "user": None, "csrf": None}
        return templates.TemplateResponse(request, name, context, status_code=error.status)
