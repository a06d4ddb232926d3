"""Portal users (admins only): create, change role, disable or enable, set a password,
delete. The service keeps one active admin at least and says so when refused."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response

from ampnexus.domain.errors import DomainError, Invalid
from ampnexus.domain.user import Role
from ampnexus.portal.auth import Admin, Signed
from ampnexus.portal.render import done, failed, form, page

if TYPE_CHECKING:
    from ampnexus.app import Services

router = APIRouter()
BACK = "/users"
UserId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("/users", response_class=HTMLResponse)
async def users_page(request: Request, signed: Admin) -> Response:
    return await _render(request, signed, "users.html", nav="users")


@router.get("/fragments/users", response_class=HTMLResponse)
async def users_fragment(request: Request, signed: Admin) -> Response:
    return await _render(request, signed, "_users.html")


async def _render(request: Request, signed: Signed, template: str, **context: Any) -> Response:
    services: Services = request.app.state.services
    users = list(await services.users.list())
    return page(request, template, signed, users=users, roles=list(Role), **context)


@router.post("/users")
async def create_user(request: Request, signed: Admin) -> Response:
    services: Services = request.app.state.services
    fields = await form(request)
    try:
        user = await services.users.create(
            fields.get("email", ""), fields.get("password", ""), _role(fields.get("role", ""))
        )
    except DomainError as error:
        return failed(request, str(error), BACK)
    return done(request, f"User {user.email} created ({user.role}).", BACK)


@router.post("/users/{user_id}/role")
async def change_role(request: Request, user_id: UserId, signed: Admin) -> Response:
    services: Services = request.app.state.services
    try:
        role = _role((await form(request)).get("role", ""))
        user = await services.users.change_role(user_id, role)
    except DomainError as error:
        return failed(request, str(error), BACK)
    return done(request, f"{user.email} is now {user.role}.", BACK)


@router.post("/users/{user_id}/disable")
async def disable(request: Request, user_id: UserId, signed: Admin) -> Response:
    return await _set_disabled(request, signed, user_id, True)


@router.post("/users/{user_id}/enable")
async def enable(request: Request, user_id: UserId, signed: Admin) -> Response:
    return await _set_disabled(request, signed, user_id, False)


async def _set_disabled(request: Request, signed: Signed, user_id: int, off: bool) -> Response:
    services: Services = request.app.state.services
    try:
        user = await services.users.set_disabled(user_id, off)
    except DomainError as error:
        return failed(request, str(error), BACK)
    state = "disabled: signed out everywhere" if off else "enabled: may sign in again"
    return done(request, f"{user.email} {state}.", BACK)


@router.post("/users/{user_id}/password")
async def set_password(request: Request, user_id: UserId, signed: Admin) -> Response:
    services: Services = request.app.state.services
    try:
        user = await services.users.set_password(user_id, (await form(request)).get("password", ""))
    except DomainError as error:
        return failed(request, str(error), BACK)
    return done(request, f"{user.email} has a new password and was signed out.", BACK)


@router.post("/users/{user_id}/delete")
async def delete(request: Request, user_id: UserId, signed: Admin) -> Response:
    services: Services = request.app.state.services
    try:
        user = await services.users.delete(user_id)
    except DomainError as error:
        return failed(request, str(error), BACK)
    return done(request, f"User {user.email} deleted.", BACK)


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        names = ", ".join(Role)
        raise Invalid(f"role must be one of {names}, got {value[:20]!r}") from None
