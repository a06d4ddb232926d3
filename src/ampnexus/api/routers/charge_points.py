"""Charge points: registration, state, and the commands an operator sends them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import StringConstraints

from ampnexus.api.deps import CallerDep, PagingDep, ServicesDep
from ampnexus.api.models import (
    INT32_MAX,
    AvailabilityRequest,
    ChargePointCreate,
    ChargePointOut,
    ChargePointUpdate,
    ChargerReadingOut,
    ChargingProfileRequest,
    CommandReply,
    CompositeScheduleReply,
    ConfigurationChange,
    DataTransferOut,
    DataTransferRequest,
    Page,
    RemoteStart,
    RemoteStop,
    ResetRequest,
    StatusOut,
    TriggerMessageRequest,
    UnlockRequest,
    page_of,
)
from ampnexus.api.site_models import PlacementIn, PlacementOut
from ampnexus.domain.charge_point import RegistrationStatus
from ampnexus.domain.charging_profile import ChargingRateUnit, ProfilePurpose
from ampnexus.domain.commands import Availability, ProfileFilter, ResetKind
from ampnexus.domain.time import utc
from ampnexus.domain.transaction import ReadingFilter
from ampnexus.ocpp.v16.commands import TRIGGERED_BY_NAME

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
    `security_profile: 0` for a charger that connects without credentials. Profile 2 (a
    password over TLS) and 3 (a client certificate, no password) need TLS configured."""
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


@router.put("/{charge_point_id}", response_model=PlacementOut)
async def place(
    charge_point_id: ChargePointId, body: PlacementIn, services: ServicesDep
) -> PlacementOut:
    """Place the charger: its site, the circuit feeding it (one of that site's), the phases
    it uses, its maximum power and phase rotation. The body is the whole placement: a field
    left out is cleared, so `{}` takes the charger off its site."""
    await services.sites.placement(charge_point_id)  # 404 for a charger not registered
    placed = await services.sites.place(body.to_domain(charge_point_id))
    return PlacementOut.of(placed)


@router.get("/{charge_point_id}/placement", response_model=PlacementOut)
async def placement(charge_point_id: ChargePointId, services: ServicesDep) -> PlacementOut:
    """Where the charger is placed (set with PUT /charge-points/{id})."""
    return PlacementOut.of(await services.sites.placement(charge_point_id))


@router.get("/{charge_point_id}/status-history", response_model=Page[StatusOut])
async def status_history(
    charge_point_id: ChargePointId, services: ServicesDep, paging: PagingDep
) -> Page[StatusOut]:
    """Every StatusNotification the charger sent, newest first."""
    page = await services.charge_points.status_history(charge_point_id, paging.limit, paging.offset)
    return page_of(page, paging, StatusOut.of)


@router.get("/{charge_point_id}/meter-values", response_model=Page[ChargerReadingOut])
async def meter_values(
    charge_point_id: ChargePointId,
    services: ServicesDep,
    paging: PagingDep,
    connector_id: Annotated[
        int | None, Query(ge=0, le=INT32_MAX, description="0: the charger's main meter")
    ] = None,
    since: Annotated[
        datetime | None, Query(description="Taken at or after (no offset: UTC)")
    ] = None,
    until: Annotated[datetime | None, Query(description="Taken before (no offset: UTC)")] = None,
) -> Page[ChargerReadingOut]:
    """The sampled values the charger sent outside any transaction (MeterValues without a
    transactionId: a connector's or the main meter's readings), newest first. A session's
    readings are in GET /transactions/{id}."""
    await services.charge_points.get(charge_point_id)  # 404 for a charger not registered
    where = ReadingFilter(
        connector_id, None if since is None else utc(since), None if until is None else utc(until)
    )
    page = await services.transactions.charger_readings(
        charge_point_id, where, paging.limit, paging.offset
    )
    return page_of(page, paging, ChargerReadingOut.of)


@router.get("/{charge_point_id}/data-transfers", response_model=Page[DataTransferOut])
async def data_transfers(
    charge_point_id: ChargePointId, services: ServicesDep, paging: PagingDep
) -> Page[DataTransferOut]:
    """DataTransfer messages in both directions, newest first: those the charger sent (in),
    with AmpNexus's answer, and those sent through POST data-transfer (out), with the
    charger's."""
    await services.charge_points.get(charge_point_id)
    page = await services.data_transfer.list(charge_point_id, paging.limit, paging.offset)
    return page_of(page, paging, DataTransferOut.of)


# --- commands ------------------------------------------------------------------------------
@router.post("/{charge_point_id}/remote-start", responses=COMMAND_ERRORS)
async def remote_start(
    charge_point_id: ChargePointId, body: RemoteStart, services: ServicesDep, caller: CallerDep
) -> CommandReply:
    """RemoteStartTransaction, optionally with a TxProfile charging profile: when accepted,
    the profile is the operator's for the transaction that starts (see operator-profiles)."""
    return CommandReply.of(
        await services.commands.remote_start(
            charge_point_id, body.id_tag, body.connector_id, body.profile(), caller.name
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
    return CommandReply.of(await services.commands.reset(charge_point_id, ResetKind(body.type)))


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
        await services.commands.change_availability(
            charge_point_id, body.connector_id, Availability(body.type)
        )
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
    key: Annotated[
        list[Annotated[str, StringConstraints(max_length=50)]] | None,
        Query(description="Keys to read (OCPP CiString50); none reads all"),
    ] = None,
) -> CommandReply:
    return CommandReply.of(await services.commands.get_configuration(charge_point_id, key))


@router.put("/{charge_point_id}/configuration", responses=COMMAND_ERRORS)
async def change_configuration(
    charge_point_id: ChargePointId, body: ConfigurationChange, services: ServicesDep
) -> CommandReply:
    return CommandReply.of(
        await services.commands.change_configuration(charge_point_id, body.key, body.value)
    )


# --- smart charging and remote trigger --------------------------------------------------------
@router.post("/{charge_point_id}/charging-profiles", responses=COMMAND_ERRORS)
async def set_charging_profile(
    charge_point_id: ChargePointId,
    body: ChargingProfileRequest,
    services: ServicesDep,
    caller: CallerDep,
) -> CommandReply:
    """SetChargingProfile. The profile is checked against OCPP 1.6 first (422 with the field at
    fault). A TxProfile needs a transaction running on the connector (409 otherwise) and is
    sent with that transaction's id. Answers the charger's status: Accepted, Rejected or
    NotSupported. An accepted profile is recorded as the operator's, an upper bound smart
    charging keeps (see operator-profiles)."""
    return CommandReply.of(
        await services.commands.set_charging_profile(
            charge_point_id, body.connector_id, body.profile(), caller.name
        )
    )


@router.delete("/{charge_point_id}/charging-profiles", responses=COMMAND_ERRORS)
async def clear_charging_profile(
    charge_point_id: ChargePointId,
    services: ServicesDep,
    profile_id: Annotated[
        int | None, Query(alias="id", ge=0, le=INT32_MAX, description="Clear this profile")
    ] = None,
    connector_id: Annotated[
        int | None, Query(ge=0, le=INT32_MAX, description="Only profiles on this connector")
    ] = None,
    purpose: Annotated[
        Literal["ChargePointMaxProfile", "TxDefaultProfile", "TxProfile"] | None,
        Query(description="Only profiles of this purpose"),
    ] = None,
    stack_level: Annotated[
        int | None, Query(ge=0, le=INT32_MAX, description="Only profiles at this stack level")
    ] = None,
) -> CommandReply:
    """ClearChargingProfile: the profiles matching every given criterion, or all of them when
    none is given. Answers Accepted, or Unknown when the charger held no such profile."""
    return CommandReply.of(
        await services.commands.clear_charging_profile(
            charge_point_id,
            ProfileFilter(
                profile_id=profile_id,
                connector_id=connector_id,
                purpose=purpose and ProfilePurpose(purpose),
                stack_level=stack_level,
            ),
        )
    )


@router.get("/{charge_point_id}/composite-schedule", responses=COMMAND_ERRORS)
async def composite_schedule(
    charge_point_id: ChargePointId,
    services: ServicesDep,
    connector_id: Annotated[
        int, Query(ge=0, le=INT32_MAX, description="0: what the whole charge point may draw")
    ],
    duration: Annotated[int, Query(gt=0, le=INT32_MAX, description="Seconds from now")],
    unit: Annotated[
        Literal["A", "W"] | None, Query(description="A or W; default: the charger's choice")
    ] = None,
) -> CompositeScheduleReply:
    """GetCompositeSchedule: the limits the charger will apply from now on, as it sent them
    (`payload`) and with absolute UTC times per period (`schedule`)."""
    reply = await services.commands.get_composite_schedule(
        charge_point_id, connector_id, duration, unit and ChargingRateUnit(unit)
    )
    return CompositeScheduleReply.of_composite(reply)


@router.post("/{charge_point_id}/trigger-message", responses=COMMAND_ERRORS)
async def trigger_message(
    charge_point_id: ChargePointId, body: TriggerMessageRequest, services: ServicesDep
) -> CommandReply:
    """TriggerMessage: ask the charger to send a message now. Answers Accepted, Rejected or
    NotImplemented; the message itself arrives over OCPP after the answer."""
    return CommandReply.of(
        await services.commands.trigger_message(
            charge_point_id, TRIGGERED_BY_NAME[body.requested_message], body.connector_id
        )
    )
