"""Bearer API keys on every route but health."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ampnexus.domain.api_key import ApiKey

_bearer = HTTPBearer(auto_error=False, description="An API key from `ampnexus apikey create`")


async def require_api_key(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKey:
    if credentials is None:
        raise _unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    key = await request.app.state.services.api_keys.verify(credentials.credentials)
    if key is None:
        raise _unauthorized("invalid or revoked API key")
    return key


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})
