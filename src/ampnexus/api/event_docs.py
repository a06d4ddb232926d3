"""Each event type's payload in the OpenAPI document, under `webhooks` (OpenAPI 3.1): what
a receiver gets, and what the live stream's `data` lines carry."""

# No `from __future__ import annotations`: the receivers' annotations are built here.
from datetime import datetime
from typing import Literal

from fastapi import FastAPI
from pydantic import BaseModel, Field, create_model

from ampnexus.api.webhook_models import PAYLOADS
from ampnexus.services.feed import EVENT_TYPES

DESCRIPTIONS = {**EVENT_TYPES, "webhook.ping": "Sent by POST /webhooks/{webhook_id}/ping"}


def envelope_model(event_type: str) -> type[BaseModel]:
    name = "".join(part.title() for part in event_type.replace("_", ".").split(".")) + "Event"
    return create_model(
        name,
        id=(str, Field(description="The event's id: the same in every delivery of it")),
        type=(Literal[event_type], ...),  # type: ignore[valid-type]
        created_at=(datetime, Field(description="When it happened")),
        data=(PAYLOADS[event_type], ...),
    )


def document_events(app: FastAPI) -> None:
    for event_type, payload in PAYLOADS.items():
        model = envelope_model(event_type)

        def receiver(event: model) -> None:  # type: ignore[valid-type]
            """Documentation only."""

        app.webhooks.post(
            event_type,
            summary=DESCRIPTIONS[event_type],
            description=f"{DESCRIPTIONS[event_type]}. POSTed as JSON with the headers "
            "`AmpNexus-Event-Id`, `AmpNexus-Event-Type`, `AmpNexus-Delivery-Attempt` and "
            "`AmpNexus-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "
            '"<t>.<body>" keyed with the webhook\'s secret>`. Answer 2xx within the '
            "timeout; anything else is retried with backoff.",
            response_model=None,
        )(receiver)
        del payload
