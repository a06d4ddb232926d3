"""Signing in and out."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ampnexus.domain.errors import BadCredentials, TooManyAttempts
from ampnexus.portal.auth import LOGIN_CSRF_COOKIE, SESSION_COOKIE, Viewer, safe_next
from ampnexus.portal.render import form, templates

if TYPE_CHECKING:
    from ampnexus.app import Services

router = APIRouter()


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str = "/") -> Response:
    return _login_page(request, next=safe_next(next))


@router.post("/login")
async def login(request: Request) -> Response:
    fields = await form(request)
    next_url = safe_next(fields.get("next", "/"))
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(expected, fields.get("csrf", "")):
        return _login_page(request, next_url, "Your sign-in form expired; try again.", 400)
    services: Services = request.app.state.services
    email = fields.get("email", "")
    address = request.client.host if request.client else "unknown"
    try:
        _, token = await services.users.sign_in(email, fields.get("password", ""), address)
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
async def logout(request: Request, signed: Viewer) -> Response:
    services: Services = request.app.state.services
    await services.users.sign_out(signed.token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


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
