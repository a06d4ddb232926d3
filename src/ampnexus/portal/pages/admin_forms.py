"""What the administration pages (drivers, tariffs, webhooks, users, API keys) share: a
secret shown once, and reading a form's text and number fields."""

from __future__ import annotations

import math
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from ampnexus.domain.errors import Invalid
from ampnexus.domain.user import Role
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


def may(signed: Signed, role: Role) -> bool:
    return signed.user.role.covers(role)


def text(fields: dict[str, str], name: str, longest: int = 1000) -> str | None:
    """A field's stripped text, None when blank; Invalid when longer than `longest`."""
    value = fields.get(name, "").strip()
    if len(value) > longest:
        raise Invalid(f"{name.replace('_', ' ')} must be at most {longest} characters")
    return value or None


def number(fields: dict[str, str], name: str, label: str) -> float | None:
    """A decimal field, None when blank; Invalid (naming it) when not a finite number."""
    value = fields.get(name, "").strip()
    if not value:
        return None
    try:
        parsed = float(value)
    except ValueError:
        raise Invalid(f"{label} must be a number, got {value[:30]!r}") from None
    if not math.isfinite(parsed) or abs(parsed) > 1e9:
        raise Invalid(f"{label} must be a finite number, got {value[:30]!r}")
    return parsed
