"""Driver profiles: priority class, power cap and usual session, bound to id tags."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from ampnexus.api.deps import PagingDep, ServicesDep
from ampnexus.api.models import INT32_MAX, Page, page_of
from ampnexus.api.site_models import DriverProfileCreate, DriverProfileOut, DriverProfileUpdate

router = APIRouter(prefix="/driver-profiles", tags=["driver profiles"])
ProfileId = Annotated[int, Path(ge=1, le=INT32_MAX)]
IdTag = Annotated[str, Path(min_length=1, max_length=20)]


@router.post("", status_code=201, response_model=DriverProfileOut)
async def create(body: DriverProfileCreate, services: ServicesDep) -> DriverProfileOut:
    """Its `id_tags` must exist (POST /id-tags) and belong to no other profile."""
    return DriverProfileOut.of(await services.drivers.create(body.to_domain()))


@router.get("", response_model=Page[DriverProfileOut])
async def list_profiles(services: ServicesDep, paging: PagingDep) -> Page[DriverProfileOut]:
    found = await services.drivers.list(paging.limit, paging.offset)
    return page_of(found, paging, DriverProfileOut.of)


@router.get("/{profile_id}", response_model=DriverProfileOut)
async def show(profile_id: ProfileId, services: ServicesDep) -> DriverProfileOut:
    return DriverProfileOut.of(await services.drivers.get(profile_id))


@router.patch("/{profile_id}", response_model=DriverProfileOut)
async def update(
    profile_id: ProfileId, body: DriverProfileUpdate, services: ServicesDep
) -> DriverProfileOut:
    """`id_tags`, when given, replaces the profile's whole set."""
    return DriverProfileOut.of(await services.drivers.update(profile_id, body.changes()))


@router.delete("/{profile_id}", status_code=204)
async def delete(profile_id: ProfileId, services: ServicesDep) -> Response:
    await services.drivers.delete(profile_id)
    return Response(status_code=204)


@router.put("/{profile_id}/id-tags/{id_tag}", response_model=DriverProfileOut)
async def bind(profile_id: ProfileId, id_tag: IdTag, services: ServicesDep) -> DriverProfileOut:
    """Bind one more id tag to this driver (409 if another driver has it)."""
    return DriverProfileOut.of(await services.drivers.bind(profile_id, id_tag))


@router.delete("/{profile_id}/id-tags/{id_tag}", status_code=204)
async def unbind(profile_id: ProfileId, id_tag: IdTag, services: ServicesDep) -> Response:
    await services.drivers.unbind(profile_id, id_tag)
    return Response(status_code=204)
