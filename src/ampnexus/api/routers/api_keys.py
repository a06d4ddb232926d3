"""API keys: create (the secret is shown once), list, revoke. Admin keys only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from ampnexus.api.deps import ServicesDep
from ampnexus.api.models import INT32_MAX, ApiKeyCreate, ApiKeyCreated, ApiKeyOut

router = APIRouter(prefix="/api-keys", tags=["api keys"])


@router.post("", status_code=201, response_model=ApiKeyCreated)
async def create(body: ApiKeyCreate, services: ServicesDep) -> ApiKeyCreated:
    key, secret = await services.api_keys.create(body.name, scope=body.scope)
    return ApiKeyCreated(**ApiKeyOut.of(key).model_dump(), key=secret)


@router.get("", response_model=list[ApiKeyOut])
async def list_keys(services: ServicesDep) -> list[ApiKeyOut]:
    return [ApiKeyOut.of(key) for key in await services.api_keys.list()]


@router.delete("/{key_id}", status_code=204)
async def revoke(key_id: Annotated[int, Path(le=INT32_MAX)], services: ServicesDep) -> Response:
    await services.api_keys.revoke(key_id)
    return Response(status_code=204)
