"""Who is signed in to the portal: the session cookie, CSRF checks and roles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from fastapi import HTTPException, Request

from ampnexus.domain.user import PortalSession, Role, User

if TYPE_CHECKING:
    from ampnexus.app import Services

SESSION_COOKIE = "ampnexus_session"
LOGIN_CSRF_COOKIE = "ampnexus_login_csrf"
CSRF_HEADER = "X-CSRF-Token"


@dataclass(frozen=True, slots=True)
class Signed:
    user: User
    session: PortalSession
    token: str


class SignInNeeded(HTTPException):
    """Not signed in: pages go to the sign-in form (and back after it), htmx requests are
    told to (HX-Redirect)."""

    def __init__(self, request: Request) -> None:
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        login = f"/login?next={quote(safe_next(target), safe='/')}"
        if request.headers.get("HX-Request"):
            super().__init__(401, "sign in first", headers={"HX-Redirect": login})
        else:
            super().__init__(303, "sign in first", headers={"Location": login})


async def page_user(request: Request) -> Signed:
    services: Services = request.app.state.services
    token = request.cookies.get(SESSION_COOKIE, "")
    found = await services.users.session(token) if token else None
    if found is None:
        raise SignInNeeded(request)
    user, session = found
    return Signed(user, session, token)


def require(role: Role, signed: Signed) -> None:
    """403 unless the user's role covers `role`."""
    if not signed.user.role.covers(role):
        raise HTTPException(403, f"this needs the {role} role; you are {signed.user.role}")


async def check_csrf(request: Request, signed: Signed, form_token: str | None = None) -> None:
    """Every request that changes something carries the session's CSRF token: htmx in a
    header, a plain form in its `csrf` field."""
    services: Services = request.app.state.services
    token = request.headers.get(CSRF_HEADER) or form_token
    if not services.users.check_csrf(signed.session, token):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")


def safe_next(target: str) -> str:
    """Only a path on this server: never an open redirect elsewhere."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target
