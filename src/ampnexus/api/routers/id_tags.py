"""Id tags (RFID cards, app tokens) that may start a charge."""

from __future__ import annotations

from fastapi import APIRouter, Response

from ampnexus.api.deps import PagingDep, ServicesDep
from ampnexus.api.models import IdTagCreate, IdTagOut, IdTagUpdate, Page, page_of

router = APIRouter(prefix="/id-tags", tags=["id tags"])


@router.post("", status_code=201, response_model=IdTagOut)
async def create(body: IdTagCreate, services: ServicesDep) -> IdTagOut:
    return IdTagOut.of(await services.authorization.add(body.to_domain()))


@router.get("", response_model=Page[IdTagOut])
async def list_id_tags(services: ServicesDep, paging: PagingDep) -> Page[IdTagOut]:
    page = await services.authorization.list(paging.limit, paging.offset)
    return page_of(page, paging, IdTagOut.of)


@router.get("/{id_tag}", response_model=IdTagOut)
async def show(id_tag: str, services: ServicesDep) -> IdTagOut:
    return IdTagOut.of(await services.authorization.get(id_tag))


@router.patch("/{id_tag}", response_model=IdTagOut)
async def update(id_tag: str, body: IdTagUpdate, services: ServicesDep) -> IdTagOut:
    changes = body.model_dump(exclude_unset=True)
    return IdTagOut.of(await services.authorization.update(id_tag, changes))


@router.delete("/{id_tag}", status_code=204)
async def delete(id_tag: str, services: ServicesDep) -> Response:
    await services.authorization.delete(id_tag)
    return Response(status_code=204)
