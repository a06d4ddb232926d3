"""Who is signed in to the portal: the session cookie, roles, and the CSRF token that every
change carries. Pages declare the role they need with `Viewer`, `Operator` or `Admin`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, HTTPException, Request

from ampnexus.domain.user import PortalSession, Role, User
from ampnexus.portal.render import form

if TYPE_CHECKING:
    from ampnexus.app import Services

SESSION_COOKIE = "ampnexus_session"
LOGIN_CSRF_COOKIE = "ampnexus_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


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


class Refused(Exception):
    """Signed in, but not allowed (the role is too low, or the CSRF token is wrong): the
    portal answers with a page (or, to htmx, a message) saying why."""

    def __init__(self, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.status = status


async def page_user(request: Request) -> Signed:
    services: Services = request.app.state.services
    token = request.cookies.get(SESSION_COOKIE, "")
    found = await services.users.session(token) if token else None
    if found is None:
        raise SignInNeeded(request)
    user, session = found
    return Signed(user, session, token)


def allowed(role: Role) -> Callable[[Request], Awaitable[Signed]]:
    """A dependency: the signed-in user when their role covers `role`; for a request that
    changes something, only with the session's CSRF token too."""

    async def signed_in_as(request: Request) -> Signed:
        signed = await page_user(request)
        if not signed.user.role.covers(role):
            raise Refused(f"This needs the {role} role; you are signed in as {signed.user.role}.")
        if request.method not in SAFE_METHODS:
            await check_csrf(request, signed, (await form(request)).get("csrf"))
        request.state.signed = signed  # for answers made away from the route (render.failed)
        return signed

    return signed_in_as


Viewer = Annotated[Signed, Depends(allowed(Role.VIEWER))]
Operator = Annotated[Signed, Depends(allowed(Role.OPERATOR))]
Admin = Annotated[Signed, Depends(allowed(Role.ADMIN))]


def may(signed: Signed, role: Role) -> bool:
    """Whether a page shows the forms that need `role` (the routes refuse anyway)."""
    return signed.user.role.covers(role)


def changed_by(signed: Signed) -> str:
    """Who a change is recorded as made by, as the API records its key's name."""
    return f"portal:{signed.user.email}"


async def check_csrf(request: Request, signed: Signed, form_token: str | None = None) -> None:
    """htmx sends the token in a header, a plain form in its `csrf` field."""
    services: Services = request.app.state.services
    token = request.headers.get(CSRF_HEADER) or form_token
    if not services.users.check_csrf(signed.session, token):
        raise Refused("Missing or wrong CSRF token: reload the page and try again.")


def safe_next(target: str) -> str:
    """Only a path on this server: never an open redirect elsewhere."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target
