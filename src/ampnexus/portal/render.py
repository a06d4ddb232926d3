"""How portal pages are answered: templates with the signed-in user and CSRF token, the
answer to an action (a flash message for htmx, a redirect back for a plain form), and the
filters the templates share (times in a site's own time zone, power in kW)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from ampnexus.domain.errors import DomainError, NotFound
from ampnexus.domain.user import Role

if TYPE_CHECKING:
    from ampnexus.portal.auth import Signed

HERE = Path(__file__).parent
RELOAD_EVENT = "ampnexus:changed"  # what the live parts of a page listen for (portal.js)
templates = Jinja2Templates(directory=HERE / "templates")


def local_time(
    moment: datetime | None, zone: str | None = None, pattern: str = "%Y-%m-%d %H:%M"
) -> str:
    """A moment as the site's clock shows it (UTC when the site is unknown)."""
    if moment is None:
        return "\u2013"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(ZoneInfo(zone) if zone else UTC).strftime(pattern)


def kilowatts(watts: float | None, digits: int = 1) -> str:
    return "\u2013" if watts is None else f"{watts / 1000:.{digits}f} kW"


# The portal's parts, as the menu shows them: (key, path, label, the role that sees it).
NAV = (
    ("dashboard", "/", "Dashboard", Role.VIEWER),
    ("sites", "/sites", "Sites", Role.VIEWER),
    ("charge_points", "/charge-points", "Chargers", Role.VIEWER),
    ("sessions", "/sessions", "Sessions", Role.VIEWER),
    ("drivers", "/drivers", "Drivers", Role.VIEWER),
    ("tariffs", "/tariffs", "Tariffs", Role.VIEWER),
    ("webhooks", "/webhooks", "Webhooks", Role.OPERATOR),
    ("users", "/users", "Users", Role.ADMIN),
    ("api_keys", "/api-keys", "API keys", Role.ADMIN),
)

templates.env.globals["NAV"] = NAV
templates.env.filters["local"] = local_time
templates.env.filters["kw"] = kilowatts


def page(
    request: Request, name: str, signed: Signed | None, status: int = 200, **context: Any
) -> Response:
    """A template with what every page needs: who is signed in and their CSRF token."""
    return templates.TemplateResponse(
        request,
        name,
        {
            "user": signed.user if signed else None,
            "csrf": signed.session.csrf_token if signed else None,
            **context,
        },
        status_code=status,
    )


def done(request: Request, message: str, back: str, ok: bool = True, status: int = 200) -> Response:
    """The answer to an action: htmx shows `message` in the page's flash area, and after a
    success the page's live parts reload (not every change is on the event feed: users,
    keys, modes); a plain form goes back to the page it came from."""
    if request.headers.get("HX-Request"):
        answer = templates.TemplateResponse(
            request, "_flash.html", {"message": message, "ok": ok}, status_code=status
        )
        if ok:  # fired on the form that asked; it bubbles to <body>, where the parts listen
            answer.headers["HX-Trigger"] = RELOAD_EVENT
        return answer
    return RedirectResponse(back, status_code=303)


def failed(request: Request, message: str, back: str) -> Response:
    """An action refused with a reason the person can act on, as a 422: a flash message for
    htmx (which swaps 4xx answers too: see base.html), a page saying it for a plain form (a
    redirect back would lose the reason)."""
    if request.headers.get("HX-Request"):
        return done(request, message, back, ok=False, status=422)
    signed = getattr(request.state, "signed", None)
    return page(request, "action_failed.html", signed, status=422, message=message, back=back)


def failed_for(request: Request, error: DomainError, back: str) -> Response:
    """A service's refusal as a sentence; what does not exist is a 404."""
    if isinstance(error, NotFound):
        return done(request, sentence(error), back, ok=False, status=404)
    return failed(request, sentence(error), back)


def sentence(error: DomainError) -> str:
    text = str(error)
    return f"{text[:1].upper()}{text[1:]}."


async def form(request: Request) -> dict[str, str]:
    """An urlencoded form's fields (the last of a repeated one)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}


async def form_lists(request: Request) -> dict[str, list[str]]:
    """An urlencoded form's fields, every value of a repeated one (checkbox groups)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return parse_qs(body, keep_blank_values=True)
