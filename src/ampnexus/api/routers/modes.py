"""Charging modes: each charger's own, its site's default, and the audit trail of changes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from ampnexus.api.deps import CallerDep, PagingDep, ServicesDep
from ampnexus.api.mode_models import ModeChangeOut, ModeIn, ModeOut
from ampnexus.api.models import Page, page_of

router = APIRouter(prefix="/charge-points", tags=["charging modes"])
ChargePointId = Annotated[str, Path(description="The charge point's OCPP identity")]
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown charge point"},
    409: {"description": "Regulation mode asked for a charger at security profile 0"},
    422: {"description": "Invalid settings, or settings of another mode"},
}


@router.get("/{charge_point_id}/mode", response_model=ModeOut, responses={404: ERRORS[404]})
async def show(charge_point_id: ChargePointId, services: ServicesDep) -> ModeOut:
    """The mode the charger is in and its settings; `source` says whether it is the
    charger's own, its site's `default_mode`, or neither (smart)."""
    return ModeOut.of_effective(await services.modes.effective(charge_point_id))


@router.put("/{charge_point_id}/mode", response_model=ModeOut, responses=ERRORS)
async def set_mode(
    charge_point_id: ChargePointId, body: ModeIn, services: ServicesDep, caller: CallerDep
) -> ModeOut:
    """Give the charger its own mode, recorded with the API key's name. Settings left out
    take the Regulations' defaults. `regulation_compliance` is refused (409, nothing
    changes) for a charger at security profile 0."""
    mode, settings = body.to_domain()
    effective = await services.modes.set(charge_point_id, mode, settings, caller.name)
    return ModeOut.of_effective(effective)


@router.delete("/{charge_point_id}/mode", response_model=ModeOut, responses={404: ERRORS[404]})
async def clear_mode(
    charge_point_id: ChargePointId, services: ServicesDep, caller: CallerDep
) -> ModeOut:
    """Remove the charger's own mode: it follows its site's `default_mode` again (else
    smart). Answers the mode it is in now."""
    return ModeOut.of_effective(await services.modes.clear(charge_point_id, caller.name))


@router.get("/{charge_point_id}/mode/history", response_model=Page[ModeChangeOut])
async def history(
    charge_point_id: ChargePointId, services: ServicesDep, paging: PagingDep
) -> Page[ModeChangeOut]:
    """Every change of the charger's own mode and settings, newest first: who (the API
    key's name), when, before and after. Kept when the charger is deleted."""
    found = await services.modes.history(charge_point_id, paging.limit, paging.offset)
    return page_of(found, paging, ModeChangeOut.of)
