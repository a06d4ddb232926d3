"""Bearer API keys and their scopes on every route but health and the docs.

`RequestGuard` (api/guard.py) authenticates and authorizes from the request head, before
any body is read, and leaves the key in the request state. `require_api_key` shows the
scheme in the OpenAPI document and checks the scope again; it verifies the key itself only
when no guard ran, so a request costs one key lookup.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated

from fastapi import HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ampnexus.domain.api_key import ApiKey, ApiKeyScope

if TYPE_CHECKING:
    from ampnexus.services.api_keys import ApiKeyService

PREFIX = "/api/v1"
KEYS_PATH = f"{PREFIX}/api-keys"
PUBLIC_PATHS = frozenset({f"{PREFIX}/health", f"{PREFIX}/docs", f"{PREFIX}/openapi.json"})
DOCS_ASSETS = f"{PREFIX}/docs/assets/"
STATE_KEY = "api_key"  # where the guard leaves the verified key, in the ASGI scope's state
READ_METHODS = frozenset({"GET", "HEAD"})
# RFC 6750's b64token: what may follow "Bearer " (our keys are URL-safe base64).
_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_HOW = "send 'Authorization: Bearer <key>'"

_bearer = HTTPBearer(auto_error=False, description="An API key from `ampnexus apikey create`")


class Refusal(Exception):
    """A request the API will not serve: its status and a message for the person."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    @property
    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"} if self.status == 401 else {}


def is_secured(path: str) -> bool:
    return (
        path.startswith(f"{PREFIX}/")
        and path not in PUBLIC_PATHS
        and not path.startswith(DOCS_ASSETS)
    )


def needed_scope(method: str, path: str) -> ApiKeyScope:
    if path == KEYS_PATH or path.startswith(f"{KEYS_PATH}/"):
        return ApiKeyScope.ADMIN
    return ApiKeyScope.READ if method in READ_METHODS else ApiKeyScope.OPERATOR


def bearer_secret(authorization: list[str]) -> str:
    """The key in the one `Authorization: Bearer <key>` header (the scheme in any case,
    RFC 7235). Messages never echo the header: it may hold a secret."""
    if not authorization:
        raise Refusal(401, f"missing API key: {_HOW}")
    if len(authorization) > 1:
        raise Refusal(401, f"more than one Authorization header: {_HOW} once")
    value = authorization[0]
    if value[:6].lower() != "bearer":
        raise Refusal(401, f"the API takes Bearer API keys: {_HOW}")
    if value[6:7] != " " or not _TOKEN.fullmatch(value, 7):
        raise Refusal(
            401,
            "malformed Authorization header: send 'Bearer <key>' with one space before "
            "the key and nothing after it",
        )
    return value[7:]


async def authenticate(api_keys: ApiKeyService, authorization: list[str]) -> ApiKey:
    key = await api_keys.verify(bearer_secret(authorization))
    if key is None:
        raise Refusal(401, "invalid or revoked API key")
    return key


def authorize(key: ApiKey, method: str, path: str) -> None:
    needed = needed_scope(method, path)
    if key.scope.covers(needed):
        return
    if needed is ApiKeyScope.ADMIN:
        raise Refusal(403, f"only admin API keys manage API keys; this key's scope is {key.scope}")
    raise Refusal(
        403, f"{method} {path} needs an API key of scope {needed}; this key's scope is {key.scope}"
    )


async def require_api_key(
    request: Request,
    _scheme: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> ApiKey:
    key: ApiKey | None = request.scope.get("state", {}).get(STATE_KEY)
    method, path = request.method, request.scope["path"]
    try:
        if key is None:  # no guard in front of this app: verify here
            authorization = request.headers.getlist("authorization")
            key = await authenticate(request.app.state.services.api_keys, authorization)
        authorize(key, method, path)
    except Refusal as refusal:
        raise HTTPException(refusal.status, refusal.message, refusal.headers) from None
    return key
