"""What the administration pages (drivers, tariffs, webhooks, users, API keys) share: a
secret shown once, and how many rows a list reads."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from ampnexus.portal.auth import Signed
from ampnexus.portal.render import RELOAD_EVENT, page, templates

PAGE = 500  # rows read per list: an operator's page, not a report


def shown_once(
    request: Request, signed: Signed, what: str, secret: str, full_page: str, **context: Any
) -> Response:
    """A new secret (webhook signing secret, API key), shown in this answer only: htmx puts
    it in the flash area; a plain form gets the page with it on top."""
    once = {"what": what, "secret": secret}
    if request.headers.get("HX-Request"):
        response = templates.TemplateResponse(
            request, "_secret.html", {"once": once}, status_code=201
        )
        response.headers["HX-Trigger"] = RELOAD_EVENT
        return response
    return page(request, full_page, signed, status=201, once=once, **context)
