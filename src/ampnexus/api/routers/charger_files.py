"""A charger's firmware updates, diagnostics and logs: the commands, what the charger
reported, and the files it uploaded."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import FileResponse

from ampnexus.api.deps import PagingDep, ServicesDep
from ampnexus.api.firmware_models import (
    FirmwareStateOut,
    LogAsk,
    ReportOut,
    SignedUpdateRequest,
    UpdateOut,
    UpdateRequest,
    UploadAsk,
    UploadOut,
)
from ampnexus.api.models import Page, page_of
from ampnexus.api.routers.charge_points import COMMAND_ERRORS, ChargePointId
from ampnexus.api.routers.firmware import base_url
from ampnexus.domain.firmware import UploadKind
from ampnexus.services.uploads import DIAGNOSTICS, LOGS

router = APIRouter(prefix="/charge-points", tags=["firmware and diagnostics"])
RequestId = Annotated[int, Path(ge=1, le=2**63 - 1)]


# --- firmware --------------------------------------------------------------------------------
@router.post("/{charge_point_id}/firmware", status_code=201, responses=COMMAND_ERRORS)
async def update_firmware(
    charge_point_id: ChargePointId, body: UpdateRequest, request: Request, services: ServicesDep
) -> UpdateOut:
    """UpdateFirmware: the charger fetches the firmware from `location`, or from AmpNexus
    (`firmware_id`). Its progress shows in GET .../firmware as it reports it."""
    update = await services.firmware.update(
        charge_point_id, body.spec(services.clock.now()), base_url(request)
    )
    return UpdateOut.of(update)


@router.post("/{charge_point_id}/signed-firmware", status_code=201, responses=COMMAND_ERRORS)
async def signed_update_firmware(
    charge_point_id: ChargePointId,
    body: SignedUpdateRequest,
    request: Request,
    services: ServicesDep,
) -> UpdateOut:
    """SignedUpdateFirmware (security whitepaper): the charger checks the signature before
    installing. A charger that finds it invalid raises a critical alert."""
    update = await services.firmware.update(
        charge_point_id, body.spec(services.clock.now()), base_url(request)
    )
    return UpdateOut.of(update)


@router.get("/{charge_point_id}/firmware")
async def firmware_state(charge_point_id: ChargePointId, services: ServicesDep) -> FirmwareStateOut:
    """The last firmware status the charger reported, and its latest update."""
    state = await services.firmware.state_of(charge_point_id)
    return FirmwareStateOut(
        status=state.status,
        reported_at=state.reported_at,
        update=UpdateOut.of(state.update) if state.update else None,
    )


@router.get("/{charge_point_id}/firmware/history", response_model=Page[ReportOut])
async def firmware_history(
    charge_point_id: ChargePointId, services: ServicesDep, paging: PagingDep
) -> Page[ReportOut]:
    """Every (Signed)FirmwareStatusNotification the charger sent, newest first."""
    page = await services.firmware.history(charge_point_id, paging.limit, paging.offset)
    return page_of(page, paging, ReportOut.of)


@router.get("/{charge_point_id}/firmware/updates", response_model=Page[UpdateOut])
async def firmware_updates(
    charge_point_id: ChargePointId, services: ServicesDep, paging: PagingDep
) -> Page[UpdateOut]:
    page = await services.firmware.updates_of(charge_point_id, paging.limit, paging.offset)
    return page_of(page, paging, UpdateOut.of)


# --- diagnostics and logs ----------------------------------------------------------------------
@router.post("/{charge_point_id}/diagnostics", status_code=201, responses=COMMAND_ERRORS)
async def get_diagnostics(
    charge_point_id: ChargePointId, body: UploadAsk, request: Request, services: ServicesDep
) -> UploadOut:
    """GetDiagnostics: the charger uploads its diagnostics to a URL of AmpNexus's own (HTTP
    PUT or POST, raw or a form); download it from .../diagnostics/{id}/file."""
    asked = await services.uploads.request(
        charge_point_id, UploadKind.DIAGNOSTICS, body.options(), base_url(request)
    )
    return UploadOut.of(asked)


@router.post("/{charge_point_id}/logs", status_code=201, responses=COMMAND_ERRORS)
async def get_log(
    charge_point_id: ChargePointId, body: LogAsk, request: Request, services: ServicesDep
) -> UploadOut:
    """GetLog (security whitepaper): the charger uploads its DiagnosticsLog or SecurityLog
    as GetDiagnostics does."""
    asked = await services.uploads.request(
        charge_point_id, UploadKind(body.log_type), body.options(), base_url(request)
    )
    return UploadOut.of(asked)


def _routes_for(path: str, kinds: tuple[UploadKind, ...]) -> None:
    @router.get(f"/{{charge_point_id}}/{path}", response_model=Page[UploadOut], name=f"{path}-list")
    async def listed(
        charge_point_id: ChargePointId, services: ServicesDep, paging: PagingDep
    ) -> Page[UploadOut]:
        page = await services.uploads.requests_of(
            charge_point_id, kinds, paging.limit, paging.offset
        )
        return page_of(page, paging, UploadOut.of)

    @router.get(f"/{{charge_point_id}}/{path}/{{request_id}}", name=f"{path}-one")
    async def one(
        charge_point_id: ChargePointId, request_id: RequestId, services: ServicesDep
    ) -> UploadOut:
        return UploadOut.of(await services.uploads.one(charge_point_id, kinds, request_id))

    @router.get(
        f"/{{charge_point_id}}/{path}/{{request_id}}/file",
        response_class=FileResponse,
        name=f"{path}-file",
        responses={404: {"description": "No such request, or no file arrived yet"}},
    )
    async def file(
        charge_point_id: ChargePointId, request_id: RequestId, services: ServicesDep
    ) -> FileResponse:
        """The file the charger uploaded, as it arrived."""
        found, stored = await services.uploads.file(charge_point_id, kinds, request_id)
        name = found.file_name or f"{charge_point_id}-{path}-{request_id}.bin"
        return FileResponse(stored, media_type="application/octet-stream", filename=name)


_routes_for("diagnostics", DIAGNOSTICS)
_routes_for("logs", LOGS)
