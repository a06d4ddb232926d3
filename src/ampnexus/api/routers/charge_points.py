"""Charge points: registration, state, and the commands an operator sends them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from ampnexus.api.deps import PagingDep, ServicesDep
from ampnexus.api.models import (
    AvailabilityRequest,
    ChargePointCreate,
    ChargePointOut,
    ChargePointUpdate,
    CommandReply,
    ConfigurationChange,
    DataTransferRequest,
    Page,
    RemoteStart,
    RemoteStop,
    ResetRequest,
    StatusOut,
    UnlockRequest,
    page_of,
)
from ampnexus.domain.charge_point import RegistrationStatus

router = APIRouter(prefix="/charge-points", tags=["charge points"])
ChargePointId = Annotated[str, Path(description="The charge point's OCPP identity")]

COMMAND_ERRORS = {
    404: {"description": "Unknown charge point"},
    409: {"description": "The charge point is not connected"},
    422: {"description": "Invalid request"},
    502: {"description": "The charge point answered with a CALLERROR"},
    504: {"description": "The charge point did not answer in time"},
}


@router.post("", status_code=201, response_model=ChargePointOut)
async def register(body: ChargePointCreate, services: ServicesDep) -> ChargePointOut:
    """Register a charger. Give a `password` (security profile 1, HTTP Basic auth) or
    `security_profile: 0` for a charger that connects without credentials."""
    view = await services.charge_points.register(
        body.id,
        password=body.password,
        security_profile=body.security_profile,
        description=body.description,
        registration_status=RegistrationStatus.ACCEPTED,
    )
    return ChargePointOut.of(view)


@router.get("", response_model=Page[ChargePointOut])
async def list_charge_points(services: ServicesDep, paging: PagingDep) -> Page[ChargePointOut]:
    page = await services.charge_points.list(paging.limit, paging.offset)
    return page_of(page, paging, ChargePointOut.of)


@router.get("/{charge_point_id}", response_model=ChargePointOut)
async def show(charge_point_id: ChargePointId, services: ServicesDep) -> ChargePointOut:
    return ChargePointOut.of(await services.charge_points.get(charge_point_id))


@router.patch("/{charge_point_id}", response_model=ChargePointOut)
async def update(
    charge_point_id: ChargePointId, body: ChargePointUpdate, services: ServicesDep
) -> ChargePointOut:
    """Change the description or credentials, or accept/reject a Pending charger
    (a connected one is asked to boot again, and is then Accepted)."""
    changes = body.model_dump(exclude_unset=True)
    return ChargePointOut.of(await services.charge_points.update(charge_point_id, changes))


@router.delete("/{charge_point_id}", status_code=204)
async def delete(charge_point_id: ChargePointId, services: ServicesDep) -> Response:
    await services.charge_points.delete(charge_point_id)
    return Response(status_code=204)


@router.get("/{charge_point_id}/status-history", response_model=Page[StatusOut])
async def status_history(
    charge_point_id: ChargePointId, services: ServicesDep, paging: PagingDep
) -> Page[StatusOut]:
    """Every StatusNotification the charger sent, newest first."""
    page = await services.charge_points.status_history(charge_point_id, paging.limit, paging.offset)
    return page_of(page, paging, StatusOut.of)


# --- commands ------------------------------------------------------------------------------
@router.post("/{charge_point_id}/remote-start", responses=COMMAND_ERRORS)
async def remote_start(
    charge_point_id: ChargePointId, body: RemoteStart, services: ServicesDep
) -> CommandReply:
    """RemoteStartTransaction, optionally with a TxProfile charging profile."""
    return CommandReply.of(
        await services.commands.remote_start(
            charge_point_id, body.id_tag, body.connector_id, body.charging_profile
        )
    )


@router.post("/{charge_point_id}/remote-stop", responses=COMMAND_ERRORS)
async def remote_stop(
    charge_point_id: ChargePointId, body: RemoteStop, services: ServicesDep
) -> CommandReply:
    return CommandReply.of(
        await services.commands.remote_stop(charge_point_id, body.transaction_id)
    )


@router.post("/{charge_point_id}/reset", responses=COMMAND_ERRORS)
async def reset(
    charge_point_id: ChargePointId, body: ResetRequest, services: ServicesDep
) -> CommandReply:
    return CommandReply.of(await services.commands.reset(charge_point_id, body.type))


@router.post("/{charge_point_id}/unlock", responses=COMMAND_ERRORS)
async def unlock(
    charge_point_id: ChargePointId, body: UnlockRequest, services: ServicesDep
) -> CommandReply:
    return CommandReply.of(await services.commands.unlock(charge_point_id, body.connector_id))


@router.post("/{charge_point_id}/availability", responses=COMMAND_ERRORS)
async def availability(
    charge_point_id: ChargePointId, body: AvailabilityRequest, services: ServicesDep
) -> CommandReply:
    return CommandReply.of(
        await services.commands.change_availability(charge_point_id, body.connector_id, body.type)
    )


@router.post("/{charge_point_id}/clear-cache", responses=COMMAND_ERRORS)
async def clear_cache(charge_point_id: ChargePointId, services: ServicesDep) -> CommandReply:
    return CommandReply.of(await services.commands.clear_cache(charge_point_id))


@router.post("/{charge_point_id}/data-transfer", responses=COMMAND_ERRORS)
async def data_transfer(
    charge_point_id: ChargePointId, body: DataTransferRequest, services: ServicesDep
) -> CommandReply:
    return CommandReply.of(
        await services.commands.data_transfer(
            charge_point_id, body.vendor_id, body.message_id, body.data
        )
    )


@router.get("/{charge_point_id}/configuration", responses=COMMAND_ERRORS)
async def get_configuration(
    charge_point_id: ChargePointId,
    services: ServicesDep,
    key: Annotated[list[str] | None, Query(description="Keys to read; none reads all")] = None,
) -> CommandReply:
    return CommandReply.of(await services.commands.get_configuration(charge_point_id, key))


@router.put("/{charge_point_id}/configuration", responses=COMMAND_ERRORS)
async def change_configuration(
    charge_point_id: ChargePointId, body: ConfigurationChange, services: ServicesDep
) -> CommandReply:
    return CommandReply.of(
        await services.commands.change_configuration(charge_point_id, body.key, body.value)
    )
