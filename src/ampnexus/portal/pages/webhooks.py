"""Webhooks: subscriptions (create, enable, disable, delete, ping) and each one's delivery
log with redelivery. Operators only: a webhook sends the site's events elsewhere."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response

from ampnexus.domain.errors import DomainError, Invalid
from ampnexus.domain.webhook import Attempt, Webhook
from ampnexus.portal.auth import Operator, Signed
from ampnexus.portal.fields import text
from ampnexus.portal.pages.admin_forms import shown_once
from ampnexus.portal.render import RELOAD_EVENT, done, failed, form_lists, page
from ampnexus.services.feed import EVENT_TYPES
from ampnexus.services.webhooks import FAILING_AFTER, WebhookDraft

if TYPE_CHECKING:
    from ampnexus.app import Services

router = APIRouter()
BACK = "/webhooks"
MAX_URL = 2000
MAX_PATTERNS = 50
DELIVERIES_SHOWN = 100
WebhookId = Annotated[str, Path(min_length=1, max_length=40)]
DeliveryId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.get("/webhooks", response_class=HTMLResponse)
async def webhooks_page(request: Request, signed: Operator) -> Response:
    return page(request, "webhooks.html", signed, nav="webhooks", **await _listing(request))


@router.get("/fragments/webhooks", response_class=HTMLResponse)
async def webhooks_fragment(request: Request, signed: Operator) -> Response:
    return page(request, "_webhooks.html", signed, **await _listing(request))


async def _listing(request: Request) -> dict[str, Any]:
    services: Services = request.app.state.services
    return {
        "webhooks": list(await services.webhooks.list()),
        "event_types": EVENT_TYPES,
        "failing_after": FAILING_AFTER,
    }


@router.post("/webhooks")
async def create_webhook(request: Request, signed: Operator) -> Response:
    services: Services = request.app.state.services
    fields = await form_lists(request)
    try:
        created = await services.webhooks.create(_draft(fields))
    except DomainError as error:
        return failed(request, str(error), BACK)
    return shown_once(
        request,
        signed,
        f"Webhook {created.id} to {created.url}",
        created.secret,
        "webhooks.html",
        nav="webhooks",
        **await _listing(request),
    )


def _draft(fields: dict[str, list[str]]) -> WebhookDraft:
    """Ticked event types plus typed patterns (`session.*`, `*`); the service checks that
    each names an event."""
    single = {name: values[-1] for name, values in fields.items()}
    url = (text(single, "url", MAX_URL) or "").strip()
    if not url:
        raise Invalid("give the URL the events are posted to")
    typed = [p.strip() for p in single.get("patterns", "").split(",") if p.strip()]
    events = list(dict.fromkeys(fields.get("events", []) + typed))
    if len(events) > MAX_PATTERNS or any(len(p) > 64 for p in events):
        raise Invalid(f"events: at most {MAX_PATTERNS} patterns of at most 64 characters")
    sites = [s.strip() for s in single.get("site_ids", "").split(",") if s.strip()]
    return WebhookDraft(
        url=url,
        events=tuple(events),
        site_ids=tuple(sites) or None,
        description=text(single, "description", 200),
    )


@router.post("/webhooks/{webhook_id}/enable")
async def enable(request: Request, webhook_id: WebhookId, signed: Operator) -> Response:
    return await _set_enabled(request, signed, webhook_id, True)


@router.post("/webhooks/{webhook_id}/disable")
async def disable(request: Request, webhook_id: WebhookId, signed: Operator) -> Response:
    return await _set_enabled(request, signed, webhook_id, False)


async def _set_enabled(request: Request, signed: Signed, webhook_id: str, on: bool) -> Response:
    services: Services = request.app.state.services
    try:
        await services.webhooks.update(webhook_id, {"enabled": on})
    except DomainError as error:
        return failed(request, str(error), BACK)
    state = "enabled: events are delivered again" if on else "disabled: events wait"
    return done(request, f"Webhook {webhook_id} {state}.", BACK)


@router.post("/webhooks/{webhook_id}/delete")
async def delete(request: Request, webhook_id: WebhookId, signed: Operator) -> Response:
    services: Services = request.app.state.services
    try:
        await services.webhooks.delete(webhook_id)
    except DomainError as error:
        return failed(request, str(error), BACK)
    return done(request, f"Webhook {webhook_id} deleted.", BACK)


@router.post("/webhooks/{webhook_id}/ping")
async def ping(request: Request, webhook_id: WebhookId, signed: Operator) -> Response:
    services: Services = request.app.state.services
    try:
        attempt = await services.webhooks.ping(webhook_id)
    except DomainError as error:
        return failed(request, str(error), BACK)
    response = done(request, _ping_message(attempt), BACK, ok=attempt.ok)
    response.headers["HX-Trigger"] = RELOAD_EVENT  # its health changed either way
    return response


def _ping_message(attempt: Attempt) -> str:
    took = f"{attempt.duration_ms:.0f} ms"
    if attempt.ok:
        return f"Ping delivered: the receiver answered {attempt.status_code} in {took}."
    if attempt.status_code is not None:
        return f"Ping refused: the receiver answered {attempt.status_code} in {took}."
    return f"Ping failed after {took}: {attempt.error or 'no answer'}."


@router.get("/webhooks/{webhook_id}", response_class=HTMLResponse)
async def webhook_page(request: Request, webhook_id: WebhookId, signed: Operator) -> Response:
    services: Services = request.app.state.services
    try:
        log = await _log(services, webhook_id)
    except DomainError as error:
        return page(request, "action_failed.html", signed, 404, message=str(error), back=BACK)
    return page(request, "webhook.html", signed, nav="webhooks", **log)


@router.get("/fragments/webhooks/{webhook_id}", response_class=HTMLResponse)
async def webhook_fragment(request: Request, webhook_id: WebhookId, signed: Operator) -> Response:
    services: Services = request.app.state.services
    return page(request, "_deliveries.html", signed, **await _log(services, webhook_id))


async def _log(services: Services, webhook_id: str) -> dict[str, Any]:
    webhook: Webhook = await services.webhooks.get(webhook_id)
    found = await services.webhooks.deliveries(webhook_id, None, DELIVERIES_SHOWN, 0)
    return {
        "webhook": webhook,
        "deliveries": list(found.items),
        "total": found.total,
        "failing_after": FAILING_AFTER,
    }


@router.post("/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver")
async def redeliver(
    request: Request, webhook_id: WebhookId, delivery_id: DeliveryId, signed: Operator
) -> Response:
    services: Services = request.app.state.services
    back = f"/webhooks/{webhook_id}"
    try:
        again = await services.webhooks.redeliver(webhook_id, delivery_id)
    except DomainError as error:
        return failed(request, str(error), back)
    return done(request, f"Delivery {delivery_id} queued again as delivery {again.id}.", back)
