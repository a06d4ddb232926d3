"""A charger's local authorization list (OCPP 1.6 Local Auth List Management): what it holds
from us, whether that is in step with the id tags, a forced send, and its own version."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from ampnexus.api.deps import ServicesDep
from ampnexus.api.models import CommandReply
from ampnexus.services.local_list import LocalListView

router = APIRouter(prefix="/charge-points", tags=["charge points"])
ChargePointId = Annotated[str, Path(description="The charge point's OCPP identity")]

SYNC_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown charge point"},
    409: {"description": "The charge point is not connected"},
    502: {"description": "The charge point answered with a CALLERROR"},
    504: {"description": "The charge point did not answer in time"},
}


class LocalListOut(BaseModel):
    version: int = Field(description="The list version the charger accepted from us last")
    reported_version: int | None = Field(
        description="The version the charger reported (GetLocalListVersion): -1 none, 0 empty"
    )
    reported_at: datetime | None
    state: str = Field(description="in_sync, pending, failed or unsupported")
    reason: str | None = Field(description="Why it is not in sync")
    last_status: str | None = Field(description="The charger's answer to the last SendLocalList")
    entries: int = Field(description="How many id tags the charger should hold")
    held: int | None = Field(description="How many it holds from us (null: not known)")
    max_length: int | None = Field(description="Its LocalAuthListMaxLength, if it gave one")
    left_out: list[str] = Field(description="Id tags that did not fit in max_length")
    connected: bool
    updated_at: datetime | None

    @classmethod
    def of(cls, view: LocalListView) -> LocalListOut:
        record = view.record
        return cls(
            version=record.version,
            reported_version=record.reported_version,
            reported_at=record.reported_at,
            state=view.state.value,
            reason=view.reason,
            last_status=record.last_status and record.last_status.value,
            entries=view.entries,
            held=None if record.held is None else len(record.held),
            max_length=record.max_length,
            left_out=list(record.left_out),
            connected=view.connected,
            updated_at=record.updated_at,
        )


@router.get(
    "/{charge_point_id}/local-list",
    response_model=LocalListOut,
    responses={404: {"description": "Unknown charge point"}},
)
async def local_list(charge_point_id: ChargePointId, services: ServicesDep) -> LocalListOut:
    return LocalListOut.of(await services.local_lists.view(charge_point_id))


@router.post(
    "/{charge_point_id}/local-list/sync", response_model=LocalListOut, responses=SYNC_ERRORS
)
async def sync_local_list(
    charge_point_id: ChargePointId,
    services: ServicesDep,
    full: Annotated[
        bool, Query(description="Send the whole list (false: only what changed, if known)")
    ] = True,
) -> LocalListOut:
    """Send the list now, whatever the charger's keys say; the answer is in the state
    (a refusal is 200 with state failed or unsupported)."""
    return LocalListOut.of(await services.local_lists.sync(charge_point_id, full=full))


@router.get("/{charge_point_id}/local-list/version", responses=SYNC_ERRORS)
async def local_list_version(charge_point_id: ChargePointId, services: ServicesDep) -> CommandReply:
    """Ask the charger its list version (GetLocalListVersion)."""
    answer = await services.local_lists.ask_version(charge_point_id)
    return CommandReply(status=None, payload=dict(answer.as_sent))
