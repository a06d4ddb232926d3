"""Charging sessions and their meter values."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from ampnexus.api.deps import PagingDep, ServicesDep
from ampnexus.api.models import INT32_MAX, Page, TransactionOut, TransactionSummary, page_of

router = APIRouter(prefix="/transactions", tags=["transactions"])


@router.get("", response_model=Page[TransactionSummary])
async def list_transactions(
    services: ServicesDep,
    paging: PagingDep,
    charge_point_id: Annotated[str | None, Query(max_length=255)] = None,
    active: Annotated[bool | None, Query(description="true: running; false: finished")] = None,
) -> Page[TransactionSummary]:
    """Newest first. Meter values are in the single-transaction view."""
    page = await services.transactions.list(charge_point_id, active, paging.limit, paging.offset)
    return page_of(page, paging, TransactionSummary.of)


@router.get("/{transaction_id}", response_model=TransactionOut)
async def show(
    transaction_id: Annotated[int, Path(le=INT32_MAX)], services: ServicesDep
) -> TransactionOut:
    return TransactionOut.of(await services.transactions.get(transaction_id))
