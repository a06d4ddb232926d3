"""The charging profiles operators gave a charger and it holds: the upper bounds smart
charging keeps. Read-only: they are set and cleared with the charger's commands
(POST and DELETE /charge-points/{id}/charging-profiles, or a remote start's profile)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from ampnexus.api.deps import ServicesDep
from ampnexus.domain.operator_profile import OperatorProfile
from ampnexus.ocpp.v16.profiles import profile_to_ocpp

router = APIRouter(prefix="/charge-points", tags=["charge points"])
ChargePointId = Annotated[str, Path(description="The charge point's OCPP identity")]


class OperatorProfileOut(BaseModel):
    connector_id: int = Field(description="0: the whole charge point")
    purpose: str
    stack_level: int
    profile_id: int
    transaction_id: int | None = Field(description="A TxProfile's transaction")
    set_at: datetime
    set_by: str | None = Field(description="The name of the API key that set it")
    charging_profile: dict[str, Any] = Field(description="As OCPP 1.6 writes it (camelCase)")

    @classmethod
    def of(cls, record: OperatorProfile) -> OperatorProfileOut:
        return cls(
            connector_id=record.connector_id,
            purpose=record.purpose.value,
            stack_level=record.stack_level,
            profile_id=record.profile.id,
            transaction_id=record.transaction_id,
            set_at=record.set_at,
            set_by=record.set_by,
            charging_profile=profile_to_ocpp(record.profile),
        )


@router.get(
    "/{charge_point_id}/operator-profiles",
    response_model=list[OperatorProfileOut],
    responses={404: {"description": "Unknown charge point"}},
)
async def operator_profiles(
    charge_point_id: ChargePointId, services: ServicesDep
) -> list[OperatorProfileOut]:
    """The profiles operators set that the charger accepted and still holds, by connector,
    purpose and stack level: a TxProfile until its transaction stops (a remote start's from
    when its transaction starts), the others until cleared or replaced."""
    await services.charge_points.get(charge_point_id)  # 404 for an unknown charger
    records = await services.operator_profiles.of_charger(charge_point_id)
    return [OperatorProfileOut.of(record) for record in records]
