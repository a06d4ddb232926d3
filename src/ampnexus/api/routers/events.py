"""The event feed as a live stream (Server-Sent Events), resumable with Last-Event-ID."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse

from ampnexus.api.deps import ServicesDep
from ampnexus.domain.errors import Invalid
from ampnexus.services.feed import EventFeed, StoredEvent, check_patterns, matches
from ampnexus.services.webhooks import envelope

router = APIRouter(tags=["events"])

KEEP_ALIVE_S = 15.0
READ_BATCH = 500


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "The event stream"}},
)
async def stream(
    services: ServicesDep,
    types: Annotated[
        list[str] | None,
        Query(max_length=50, description="Event types or patterns (`session.*`); default all"),
    ] = None,
    site_id: Annotated[
        list[str] | None, Query(max_length=1000, description="Only these sites' events")
    ] = None,
    last_event_id: Annotated[
        str | None,
        Header(
            max_length=20,
            description="Resume after this event (browsers' EventSource sends it on "
            "reconnecting); without it the stream starts with the next event",
        ),
    ] = None,
) -> StreamingResponse:
    """Every event of the webhooks' catalogue as it happens: `id:` (the feed's sequence
    number), `event:` (its type) and `data:` (the same JSON a webhook receives). Events are
    kept `AMPNEXUS_EVENT_RETENTION_DAYS`, so a client can resume within that time and miss
    nothing. A comment line every 15 s keeps idle connections open."""
    patterns = types or ["*"]
    try:
        check_patterns(patterns)
    except ValueError as error:
        raise Invalid(f"types: {error}") from error
    after = _resume_point(last_event_id)
    feed = services.feed
    if after is None:
        after = await feed.last_seq()
    sites = set(site_id) if site_id else None
    return StreamingResponse(
        _events(feed, after, patterns, sites),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _resume_point(last_event_id: str | None) -> int | None:
    if last_event_id is None or last_event_id.strip() == "":
        return None
    if not last_event_id.strip().isdigit():
        raise Invalid("Last-Event-ID: expected an event id from this stream (a number)")
    return int(last_event_id)


async def _events(
    feed: EventFeed, after: int, patterns: list[str], sites: set[str] | None
) -> AsyncIterator[bytes]:
    yield b"retry: 3000\n\n"
    while True:
        commit = feed.next_commit()  # before reading: no commit in between is missed
        events = await feed.read(after, READ_BATCH)
        for event in events:
            after = event.seq
            if matches(patterns, event.type) and (sites is None or event.site_id in sites):
                yield _frame(event)
        if len(events) == READ_BATCH:
            continue
        if not commit.done():
            await feed.wait(commit, KEEP_ALIVE_S)
            if not commit.done():
                yield b": keep-alive\n\n"


def _frame(event: StoredEvent) -> bytes:
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event.seq, event.type.encode(), envelope(event))
