"""Webhook subscriptions, their delivery log, redelivery and ping."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response, status

from ampnexus.api.deps import PagingDep, ServicesDep
from ampnexus.api.models import Page, page_of
from ampnexus.api.webhook_models import (
    DeliveryOut,
    PingOut,
    WebhookCreate,
    WebhookCreated,
    WebhookOut,
    WebhookPatch,
)
from ampnexus.domain.webhook import DeliveryStatus
from ampnexus.services.webhooks import WebhookDraft

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

WebhookId = Annotated[str, Path(min_length=1, max_length=40)]
DeliveryId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.post("", response_model=WebhookCreated, status_code=status.HTTP_201_CREATED)
async def create(body: WebhookCreate, services: ServicesDep) -> WebhookCreated:
    """Subscribe a URL to events. The answer holds the signing `secret`, shown only here.
    Every delivery is a POST of `{id, type, created_at, data}`, signed in the
    `AmpNexus-Signature` header (the README shows how to verify it); the payload of each
    event type is under "webhooks" in this document."""
    draft = WebhookDraft(
        url=str(body.url),
        events=tuple(body.events),
        site_ids=None if body.site_ids is None else tuple(body.site_ids),
        description=body.description,
        enabled=body.enabled,
    )
    return WebhookCreated.of_new(await services.webhooks.create(draft))


@router.get("", response_model=list[WebhookOut])
async def list_webhooks(services: ServicesDep) -> list[WebhookOut]:
    return [WebhookOut.of(w) for w in await services.webhooks.list()]


@router.get("/{webhook_id}", response_model=WebhookOut)
async def show(webhook_id: WebhookId, services: ServicesDep) -> WebhookOut:
    return WebhookOut.of(await services.webhooks.get(webhook_id))


@router.patch("/{webhook_id}", response_model=WebhookOut)
async def change(webhook_id: WebhookId, body: WebhookPatch, services: ServicesDep) -> WebhookOut:
    changes: dict[str, Any] = {}
    for name in body.model_fields_set:
        value = getattr(body, name)
        if name == "url":
            value = str(value) if value is not None else None
        elif isinstance(value, list):
            value = tuple(value)
        if value is None and name in ("url", "events", "enabled"):
            continue  # these cannot be unset
        changes[name] = value
    return WebhookOut.of(await services.webhooks.update(webhook_id, changes))


@router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete(webhook_id: WebhookId, services: ServicesDep) -> Response:
    """Unsubscribe; its pending deliveries are dropped."""
    await services.webhooks.delete(webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{webhook_id}/deliveries", response_model=Page[DeliveryOut])
async def deliveries(
    webhook_id: WebhookId,
    services: ServicesDep,
    paging: PagingDep,
    status: Annotated[DeliveryStatus | None, Query()] = None,
) -> Page[DeliveryOut]:
    """Newest first: each delivery's status, attempts, last response code and timing."""
    found = await services.webhooks.deliveries(webhook_id, status, paging.limit, paging.offset)
    return page_of(found, paging, DeliveryOut.of)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    response_model=DeliveryOut,
    status_code=status.HTTP_202_ACCEPTED,
)
async def redeliver(
    webhook_id: WebhookId, delivery_id: DeliveryId, services: ServicesDep
) -> DeliveryOut:
    """Deliver that delivery's event again (same event id), as a new delivery, in event
    order with the webhook's other pending deliveries."""
    return DeliveryOut.of(await services.webhooks.redeliver(webhook_id, delivery_id))


@router.post("/{webhook_id}/ping", response_model=PingOut)
async def ping(webhook_id: WebhookId, services: ServicesDep) -> PingOut:
    """Post a signed `webhook.ping` event to the URL now and answer what came of it."""
    return PingOut.of(await services.webhooks.ping(webhook_id))
