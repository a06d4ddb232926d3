"""Firmware images AmpNexus serves to chargers, and rollouts of an update to many chargers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from ampnexus.api.deps import PagingDep, ServicesDep
from ampnexus.api.firmware_models import FirmwareOut, RolloutOut, RolloutRequest
from ampnexus.api.models import Page, page_of
from ampnexus.api.uploads import body_file, too_large
from ampnexus.domain.errors import Invalid
from ampnexus.services.file_ports import TooLarge

router = APIRouter(tags=["firmware"])
FirmwareId = Annotated[int, Path(ge=1, le=2**63 - 1)]
RolloutId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def base_url(request: Request) -> str:
    """The address this request came to: where chargers are told to fetch and upload files
    unless AMPNEXUS_FILES_URL says otherwise."""
    return str(request.base_url)


@router.post(
    "/firmware",
    status_code=201,
    responses={413: {"description": "Larger than AMPNEXUS_FIRMWARE_MAX_BYTES"}},
)
async def upload(
    request: Request,
    services: ServicesDep,
    name: Annotated[
        str | None,
        Query(max_length=255, description="The file's name; a form's filename otherwise"),
    ] = None,
) -> FirmwareOut:
    """Upload a firmware image: a multipart/form-data form (its file part), or the raw bytes
    with `?name=`. It is served to chargers at `download_url`, which needs no API key and
    cannot be guessed."""
    offered, chunks = await body_file(request)
    chosen = name or offered
    if not chosen:
        raise Invalid("name the firmware: ?name=..., or a form's filename")
    try:
        firmware = await services.firmware.upload(chosen, chunks)
    except TooLarge as error:
        raise too_large(error) from None
    return FirmwareOut.of(firmware, services.firmware.download_url(firmware, base_url(request)))


@router.get("/firmware", response_model=Page[FirmwareOut])
async def list_firmware(
    request: Request, services: ServicesDep, paging: PagingDep
) -> Page[FirmwareOut]:
    page = await services.firmware.files(paging.limit, paging.offset)
    base = base_url(request)
    return page_of(
        page, paging, lambda f: FirmwareOut.of(f, services.firmware.download_url(f, base))
    )


@router.get("/firmware/{firmware_id}")
async def show_firmware(
    firmware_id: FirmwareId, request: Request, services: ServicesDep
) -> FirmwareOut:
    firmware = await services.firmware.file(firmware_id)
    return FirmwareOut.of(firmware, services.firmware.download_url(firmware, base_url(request)))


@router.delete("/firmware/{firmware_id}", status_code=204)
async def delete_firmware(firmware_id: FirmwareId, services: ServicesDep) -> Response:
    """The file goes, and its download URL answers 404 from now on."""
    await services.firmware.delete(firmware_id)
    return Response(status_code=204)


@router.post("/firmware-rollouts", status_code=201)
async def start_rollout(
    body: RolloutRequest, request: Request, services: ServicesDep
) -> RolloutOut:
    """Send an (optionally signed) firmware update to every charger listed: the connected
    ones now, the others when they next boot (their `problem` says they wait)."""
    now = services.clock.now()
    rollout = await services.firmware.rollout(
        body.charge_point_ids, body.spec(now), base_url(request)
    )
    return RolloutOut.of(rollout)


@router.get("/firmware-rollouts/{rollout_id}")
async def rollout_progress(rollout_id: RolloutId, services: ServicesDep) -> RolloutOut:
    """How far each charger got: counts by state, and each charger's update."""
    return RolloutOut.of(await services.firmware.rollout_progress(rollout_id))
