"""Reservations (OCPP 1.6 ReserveNow / CancelReservation): a connector, or any connector of a
charger, held for an id tag and its group until an expiry date."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from ampnexus.api.deps import PagingDep, ServicesDep
from ampnexus.api.models import INT32_MAX, Page, Strict, UtcDatetime, page_of
from ampnexus.domain.reservation import Reservation, ReservationFilter, ReservationState

router = APIRouter(tags=["reservations"])

ReservationId = Annotated[int, Path(ge=1, le=INT32_MAX)]
IdToken = Annotated[str, Field(min_length=1, max_length=20)]  # OCPP CiString20

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown charge point or reservation"},
    409: {
        "description": "The charge point is not connected, the connector is already "
        "reserved, or the reservation is no longer active"
    },
    422: {"description": "Invalid request, or an id tag that may not charge there"},
    502: {"description": "The charge point answered with a CALLERROR"},
    504: {"description": "The charge point did not answer in time"},
}


class ReservationIn(Strict):
    connector_id: int = Field(ge=0, le=INT32_MAX, description="0: any connector of the charger")
    id_tag: IdToken
    expiry: UtcDatetime = Field(description="When the reservation ends (no offset: UTC)")
    parent_id_tag: IdToken | None = Field(
        None, description="The group that may use it; default: the id tag's own parent"
    )


class ReservationOut(BaseModel):
    id: int = Field(description="Also the OCPP reservationId")
    charge_point_id: str
    connector_id: int
    id_tag: str
    parent_id_tag: str | None
    expiry: datetime
    state: ReservationState
    answer: str | None = Field(
        description="The charger's answer to ReserveNow: Accepted, Faulted, Occupied, "
        "Rejected or Unavailable (null: none yet, or none at all)"
    )
    reason: str | None = Field(description="Why it is no longer active")
    transaction_id: int | None = Field(description="The transaction that used it")
    created_at: datetime
    ended_at: datetime | None

    @classmethod
    def of(cls, reservation: Reservation, now: datetime) -> ReservationOut:
        state = reservation.state_at(now)
        reason = reservation.reason
        if state is not reservation.state:  # expired, not yet stored as such
            reason = "its expiry date passed unused"
        return cls(
            id=reservation.id,
            charge_point_id=reservation.charge_point_id,
            connector_id=reservation.connector_id,
            id_tag=reservation.id_tag,
            parent_id_tag=reservation.parent_id_tag,
            expiry=reservation.expires_at,
            state=state,
            answer=reservation.answer.value if reservation.answer else None,
            reason=reason,
            transaction_id=reservation.transaction_id,
            created_at=reservation.created_at,
            ended_at=reservation.ended_at,
        )


class CancelOut(BaseModel):
    status: str = Field(
        description="The charger's answer: Accepted, or Rejected when it held no such "
        "reservation (the reservation is cancelled either way)"
    )
    reservation: ReservationOut


@router.post(
    "/charge-points/{charge_point_id}/reservations",
    status_code=201,
    response_model=ReservationOut,
    responses=ERRORS,
)
async def reserve(
    charge_point_id: Annotated[str, Path(max_length=255)],
    body: ReservationIn,
    services: ServicesDep,
) -> ReservationOut:
    """ReserveNow. The reservation is recorded with the charger's answer: `active` when it
    accepted, `rejected` (with the answer) when it did not. The id tag must be one that may
    charge there."""
    reservation = await services.reservations.reserve(
        charge_point_id, body.connector_id, body.id_tag, body.expiry, body.parent_id_tag
    )
    return ReservationOut.of(reservation, services.clock.now())


@router.get("/reservations", response_model=Page[ReservationOut])
async def list_reservations(
    services: ServicesDep,
    paging: PagingDep,
    charge_point_id: Annotated[str | None, Query(max_length=255)] = None,
    state: Annotated[ReservationState | None, Query()] = None,
    id_tag: Annotated[str | None, Query(max_length=20)] = None,
) -> Page[ReservationOut]:
    """Newest first."""
    where = ReservationFilter(charge_point_id=charge_point_id, state=state, id_tag=id_tag)
    page = await services.reservations.list(where, paging.limit, paging.offset)
    now = services.clock.now()
    return page_of(page, paging, lambda r: ReservationOut.of(r, now))


@router.get("/reservations/{reservation_id}", response_model=ReservationOut)
async def show(reservation_id: ReservationId, services: ServicesDep) -> ReservationOut:
    reservation = await services.reservations.get(reservation_id)
    return ReservationOut.of(reservation, services.clock.now())


@router.delete("/reservations/{reservation_id}", response_model=CancelOut, responses=ERRORS)
async def cancel(reservation_id: ReservationId, services: ServicesDep) -> CancelOut:
    """CancelReservation, for an active reservation (409 otherwise)."""
    reservation, status = await services.reservations.cancel(reservation_id)
    return CancelOut(
        status=status.value, reservation=ReservationOut.of(reservation, services.clock.now())
    )
