"""What the administration pages (drivers, tariffs, webhooks, users, API keys) share: an
action's answer that also tells htmx lists to reload, a refusal that keeps its reason for a
plain form too, and a secret shown once."""

from __future__ import annotations

import math
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from ampnexus.domain.errors import Invalid
from ampnexus.domain.user import Role
from ampnexus.portal.auth import Signed
from ampnexus.portal.render import done, failed, page, templates

PAGE = 500  # rows read per list: an operator's page, not a report
# htmx fires this on the form that asked; it bubbles to <body>, where lists listen for it.
RELOAD = {"HX-Trigger": "ampnexus:changed"}


def changed(request: Request, message: str, back: str) -> Response:
    """The answer to an action that worked: a flash message, and the lists reload (these
    changes are not on the event feed, so no nudge would come)."""
    response = done(request, message, back)
    response.headers.update(RELOAD)
    return response


def refused(request: Request, signed: Signed, message: str, back: str) -> Response:
    """A 422 with the service's reason: a flash message for htmx; for a plain form a page
    saying it (the redirect `failed` answers would lose the reason)."""
    if request.headers.get("HX-Request"):
        return failed(request, message, back)
    return page(request, "action_failed.html", signed, status=422, message=message, back=back)


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
        response.headers.update(RELOAD)
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
