"""The operator portal: server-rendered pages (Jinja2) with htmx, served by the same process
as the API and calling the same services (ADR 0011). Signed-in users carry a session cookie;
every form and htmx request carries the session's CSRF token."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from ampnexus.domain.errors import BadCredentials, TooManyAttempts
from ampnexus.portal import views
from ampnexus.portal.assets import assets_router
from ampnexus.portal.auth import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    Signed,
    check_csrf,
    page_user,
    safe_next,
)

if TYPE_CHECKING:
    from ampnexus.app import Services

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
SignedIn = Annotated[Signed, Depends(page_user)]


def install_portal(app: FastAPI, services: Services, secure_cookies: bool) -> None:
    app.state.secure_cookies = secure_cookies
    app.include_router(assets_router())
    app.include_router(_pages())
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="portal-static")


def _pages() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/login", response_class=HTMLResponse)
    async def login_form(request: Request, next: str = "/") -> Response:
        return _login_page(request, next=safe_next(next))

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = await _form(request)
        next_url = safe_next(form.get("next", "/"))
        expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not expected or not secrets.compare_digest(expected, form.get("csrf", "")):
            return _login_page(request, next_url, "Your sign-in form expired; try again.", 400)
        services: Services = request.app.state.services
        email = form.get("email", "")
        address = request.client.host if request.client else "unknown"
        try:
            _, token = await services.users.sign_in(email, form.get("password", ""), address)
        except TooManyAttempts as error:
            return _login_page(request, next_url, f"{str(error).capitalize()}.", 429, email)
        except BadCredentials as error:
            return _login_page(request, next_url, f"{str(error).capitalize()}.", 401, email)
        response = RedirectResponse(next_url, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            token,
            httponly=True,
            samesite="lax",
            secure=request.app.state.secure_cookies,
            path="/",
        )
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
        return response

    @router.post("/logout")
    async def logout(request: Request, signed: SignedIn) -> Response:
        await check_csrf(request, signed, (await _form(request)).get("csrf"))
        services: Services = request.app.state.services
        await services.users.sign_out(signed.token)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @router.get("/", response_class=HTMLResponse)
    async def dashboard(request: Request, signed: SignedIn) -> Response:
        board = await views.dashboard(request.app.state.services)
        return _page(request, "dashboard.html", signed, page="dashboard", board=board)

    @router.get("/fragments/dashboard", response_class=HTMLResponse)
    async def dashboard_fragment(request: Request, signed: SignedIn) -> Response:
        board = await views.dashboard(request.app.state.services)
        return _page(request, "_dashboard.html", signed, board=board)

    @router.get("/live")
    async def live(request: Request, signed: SignedIn) -> StreamingResponse:
        """A nudge per event of the feed: the pages reload what they show."""
        services: Services = request.app.state.services
        return StreamingResponse(
            _nudges(services, await services.feed.last_seq()),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store"},
        )

    return router


async def _nudges(services: Services, after: int) -> AsyncIterator[bytes]:
    feed = services.feed
    yield b"retry: 3000\n\n"
    while True:
        commit = feed.next_commit()
        events = await feed.read(after, 500)
        if events:
            after = events[-1].seq
            kinds = " ".join(sorted({e.type for e in events}))
            yield b"id: %d\ndata: %s\n\n" % (after, kinds.encode())
            continue
        await feed.wait(commit, 15.0)
        if not commit.done():
            yield b": keep-alive\n\n"


def _page(request: Request, name: str, signed: Signed, **context: Any) -> Response:
    return templates.TemplateResponse(
        request, name, {"user": signed.user, "csrf": signed.session.csrf_token, **context}
    )


def _login_page(
    request: Request, next: str, error: str | None = None, status: int = 200, email: str = ""
) -> Response:
    token = secrets.token_urlsafe(24)  # double submit: in the form and in a cookie
    response = templates.TemplateResponse(
        request,
        "login.html",
        {
            "user": None,
            "csrf": None,
            "login_csrf": token,
            "next": next,
            "error": error,
            "email": email,
        },
        status_code=status,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.app.state.secure_cookies,
        path="/login",
    )
    return response


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form's fields (the last of a repeated one)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}
