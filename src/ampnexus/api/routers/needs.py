"""What a driver needs: energy (or a target state of charge) and departure, for a running
transaction or for an id tag's sessions. Without one, the planner assumes the driver's
default, one learned from their past sessions, or the site's."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from ampnexus.api.deps import ServicesDep
from ampnexus.api.models import INT32_MAX
from ampnexus.api.site_models import NeedIn, NeedOut

router = APIRouter(tags=["session needs"])
TransactionId = Annotated[int, Path(le=INT32_MAX, ge=-INT32_MAX - 1)]
IdTag = Annotated[str, Path(min_length=1, max_length=20)]


@router.put("/transactions/{transaction_id}/need", response_model=NeedOut)
async def set_transaction_need(
    transaction_id: TransactionId, body: NeedIn, services: ServicesDep
) -> NeedOut:
    """Replaces the transaction's need (409 once it has finished)."""
    return NeedOut.of(await services.needs.set_for_transaction(transaction_id, body.fields()))


@router.get("/transactions/{transaction_id}/need", response_model=NeedOut)
async def show_transaction_need(transaction_id: TransactionId, services: ServicesDep) -> NeedOut:
    return NeedOut.of(await services.needs.for_transaction(transaction_id))


@router.delete("/transactions/{transaction_id}/need", status_code=204)
async def delete_transaction_need(transaction_id: TransactionId, services: ServicesDep) -> Response:
    await services.needs.delete_for_transaction(transaction_id)
    return Response(status_code=204)


@router.put("/id-tags/{id_tag}/need", response_model=NeedOut)
async def set_id_tag_need(id_tag: IdTag, body: NeedIn, services: ServicesDep) -> NeedOut:
    """Applies to this id tag's sessions; a departure already past is ignored."""
    return NeedOut.of(await services.needs.set_for_id_tag(id_tag, body.fields()))


@router.get("/id-tags/{id_tag}/need", response_model=NeedOut)
async def show_id_tag_need(id_tag: IdTag, services: ServicesDep) -> NeedOut:
    return NeedOut.of(await services.needs.for_id_tag(id_tag))


@router.delete("/id-tags/{id_tag}/need", status_code=204)
async def delete_id_tag_need(id_tag: IdTag, services: ServicesDep) -> Response:
    await services.needs.delete_for_id_tag(id_tag)
    return Response(status_code=204)
