"""Charging sessions and their meter values."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from ampnexus.api.deps import CallerDep, PagingDep, ServicesDep
from ampnexus.api.models import INT32_MAX, Page, TransactionOut, TransactionSummary, page_of
from ampnexus.domain.time import utc
from ampnexus.domain.transaction import SessionFilter

router = APIRouter(prefix="/transactions", tags=["transactions"])


@router.get("", response_model=Page[TransactionSummary])
async def list_transactions(
    services: ServicesDep,
    paging: PagingDep,
    charge_point_id: Annotated[str | None, Query(max_length=255)] = None,
    active: Annotated[bool | None, Query(description="true: running; false: finished")] = None,
    site_id: Annotated[
        str | None, Query(max_length=255, description="Chargers placed on this site now")
    ] = None,
    id_tag: Annotated[
        str | None, Query(max_length=255, description="Started with this tag")
    ] = None,
    since: Annotated[
        datetime | None, Query(description="Started at or after (no offset: UTC)")
    ] = None,
    until: Annotated[datetime | None, Query(description="Started before (no offset: UTC)")] = None,
    before_id: Annotated[
        int | None, Query(le=INT32_MAX, description="Ids below this one (page by id)")
    ] = None,
) -> Page[TransactionSummary]:
    """Newest first. Meter values are in the single-transaction view."""
    where = SessionFilter(
        site_id,
        id_tag,
        None if since is None else utc(since),
        None if until is None else utc(until),
        before_id,
    )
    page = await services.transactions.list(
        charge_point_id, active, paging.limit, paging.offset, where
    )
    return page_of(page, paging, TransactionSummary.of)


@router.get("/{transaction_id}", response_model=TransactionOut)
async def show(
    transaction_id: Annotated[int, Path(le=INT32_MAX)], services: ServicesDep
) -> TransactionOut:
    return TransactionOut.of(await services.transactions.get(transaction_id))


TransactionId = Annotated[int, Path(le=INT32_MAX, description="The session's transaction id")]
OVERRIDE_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown transaction"},
    409: {"description": "The session has stopped"},
}


@router.post(
    "/{transaction_id}/override", response_model=TransactionSummary, responses=OVERRIDE_ERRORS
)
async def set_override(
    transaction_id: TransactionId, services: ServicesDep, caller: CallerDep
) -> TransactionSummary:
    """Charge now: the running session charges without its charger's peak windows and
    without a random delay until it ends (site and circuit limits still apply). Recorded on
    the charger's mode trail (`GET /charge-points/{id}/mode/history`, kind `override_set`)
    with the API key's name; setting it again records nothing. Answers the session, with
    `charge_now` true."""
    return TransactionSummary.of(await services.overrides.set(transaction_id, caller.name))


@router.delete(
    "/{transaction_id}/override", response_model=TransactionSummary, responses=OVERRIDE_ERRORS
)
async def cancel_override(
    transaction_id: TransactionId, services: ServicesDep, caller: CallerDep
) -> TransactionSummary:
    """Cancel charge now: the session follows its charger's mode again. Recorded on the
    trail (kind `override_cancelled`) when there was an override to cancel."""
    return TransactionSummary.of(await services.overrides.cancel(transaction_id, caller.name))
