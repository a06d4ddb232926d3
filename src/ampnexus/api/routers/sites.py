"""Sites, their circuits (the fuse tree) and the chargers placed on them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, TypeVar

from fastapi import APIRouter, Path, Response

from ampnexus.api.deps import Paging, PagingDep, ServicesDep
from ampnexus.api.models import Page, page_of
from ampnexus.api.site_models import (
    CircuitCreate,
    CircuitOut,
    CircuitUpdate,
    PlacementOut,
    SiteCreate,
    SiteOut,
    SiteUpdate,
)
from ampnexus.services.ports import Page as ServicePage

router = APIRouter(prefix="/sites", tags=["sites"])
SiteId = Annotated[str, Path(description="The site's id")]
CircuitId = Annotated[str, Path(description="The circuit's id, unique within its site")]
T = TypeVar("T")


def _window(items: Sequence[T], paging: Paging) -> ServicePage[T]:
    return ServicePage(items[paging.offset : paging.offset + paging.limit], len(items))


@router.post("", status_code=201, response_model=SiteOut)
async def create(body: SiteCreate, services: ServicesDep) -> SiteOut:
    """A site: its time zone, grid connection limit (kW and/or A per phase), nominal voltage,
    safety margin, and the need assumed for sessions nobody described."""
    return SiteOut.of(await services.sites.create(body.to_domain()))


@router.get("", response_model=Page[SiteOut])
async def list_sites(services: ServicesDep, paging: PagingDep) -> Page[SiteOut]:
    found = await services.sites.list(paging.limit, paging.offset)
    return page_of(found, paging, SiteOut.of)


@router.get("/{site_id}", response_model=SiteOut)
async def show(site_id: SiteId, services: ServicesDep) -> SiteOut:
    return SiteOut.of(await services.sites.get(site_id))


@router.patch("/{site_id}", response_model=SiteOut)
async def update(site_id: SiteId, body: SiteUpdate, services: ServicesDep) -> SiteOut:
    """Change any field but the id; `null` clears a grid limit."""
    return SiteOut.of(await services.sites.update(site_id, body.changes()))


@router.delete("/{site_id}", status_code=204)
async def delete(site_id: SiteId, services: ServicesDep) -> Response:
    """Deletes the site with its circuits, tariffs and series; its chargers stay registered,
    on no site."""
    await services.sites.delete(site_id)
    return Response(status_code=204)


# --- circuits ----------------------------------------------------------------------------------
@router.get("/{site_id}/circuits", response_model=Page[CircuitOut])
async def list_circuits(
    site_id: SiteId, services: ServicesDep, paging: PagingDep
) -> Page[CircuitOut]:
    layout = await services.sites.layout(site_id)
    return page_of(_window(layout.circuits, paging), paging, CircuitOut.of)


@router.post("/{site_id}/circuits", status_code=201, response_model=CircuitOut)
async def create_circuit(site_id: SiteId, body: CircuitCreate, services: ServicesDep) -> CircuitOut:
    """A circuit with its own limit. The site's circuits form one tree: the first has no
    parent (the main board), every other names its parent."""
    return CircuitOut.of(await services.sites.add_circuit(body.to_domain(site_id)))


@router.get("/{site_id}/circuits/{circuit_id}", response_model=CircuitOut)
async def show_circuit(site_id: SiteId, circuit_id: CircuitId, services: ServicesDep) -> CircuitOut:
    return CircuitOut.of(await services.sites.circuit(site_id, circuit_id))


@router.patch("/{site_id}/circuits/{circuit_id}", response_model=CircuitOut)
async def update_circuit(
    site_id: SiteId, circuit_id: CircuitId, body: CircuitUpdate, services: ServicesDep
) -> CircuitOut:
    """Change a limit or the name, or move the circuit under another parent (409 if that
    would break the tree)."""
    changed = await services.sites.update_circuit(site_id, circuit_id, body.changes())
    return CircuitOut.of(changed)


@router.delete("/{site_id}/circuits/{circuit_id}", status_code=204)
async def delete_circuit(site_id: SiteId, circuit_id: CircuitId, services: ServicesDep) -> Response:
    """Only a circuit with no sub-circuits and no chargers on it (409 otherwise)."""
    await services.sites.delete_circuit(site_id, circuit_id)
    return Response(status_code=204)


# --- chargers ----------------------------------------------------------------------------------
@router.get("/{site_id}/charge-points", response_model=Page[PlacementOut])
async def list_placements(
    site_id: SiteId, services: ServicesDep, paging: PagingDep
) -> Page[PlacementOut]:
    """The chargers placed on this site (PUT /charge-points/{id}), by id."""
    layout = await services.sites.layout(site_id)
    return page_of(_window(layout.placements, paging), paging, PlacementOut.of)
