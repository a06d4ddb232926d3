"""API keys (admins only): create (the key is shown once), list, revoke."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response

from ampnexus.domain.api_key import ApiKeyScope
from ampnexus.domain.errors import DomainError, Invalid
from ampnexus.portal.auth import Admin
from ampnexus.portal.fields import text
from ampnexus.portal.pages.admin_forms import shown_once
from ampnexus.portal.render import done, failed, form, page

if TYPE_CHECKING:
    from ampnexus.app import Services

router = APIRouter()
BACK = "/api-keys"
KeyId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("/api-keys", response_class=HTMLResponse)
async def api_keys_page(request: Request, signed: Admin) -> Response:
    return page(request, "api_keys.html", signed, nav="api_keys", **await _listing(request))


@router.get("/fragments/api-keys", response_class=HTMLResponse)
async def api_keys_fragment(request: Request, signed: Admin) -> Response:
    return page(request, "_api_keys.html", signed, **await _listing(request))


async def _listing(request: Request) -> dict[str, Any]:
    services: Services = request.app.state.services
    keys = sorted(await services.api_keys.list(), key=lambda k: (not k.active, -k.id))
    return {"keys": keys, "scopes": list(ApiKeyScope)}


@router.post("/api-keys")
async def create_key(request: Request, signed: Admin) -> Response:
    services: Services = request.app.state.services
    fields = await form(request)
    try:
        key, secret = await services.api_keys.create(
            text(fields, "name", 100) or "", scope=_scope(fields.get("scope", "read"))
        )
    except DomainError as error:
        return failed(request, str(error), BACK)
    return shown_once(
        request,
        signed,
        f"API key {key.name} ({key.scope})",
        secret,
        "api_keys.html",
        nav="api_keys",
        **await _listing(request),
    )


@router.post("/api-keys/{key_id}/revoke")
async def revoke(request: Request, key_id: KeyId, signed: Admin) -> Response:
    services: Services = request.app.state.services
    try:
        await services.api_keys.revoke(key_id)
    except DomainError as error:
        return failed(request, str(error), BACK)
    return done(request, f"API key {key_id} revoked: it no longer works.", BACK)


def _scope(value: str) -> ApiKeyScope:
    try:
        return ApiKeyScope(value)
    except ValueError:
        names = ", ".join(ApiKeyScope)
        raise Invalid(f"scope must be one of {names}, got {value[:20]!r}") from None
