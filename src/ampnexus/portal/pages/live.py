"""The live channel: a nudge per batch of feed events, so a page reloads what it shows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from ampnexus.portal.auth import Viewer

if TYPE_CHECKING:
    from ampnexus.app import Services

router = APIRouter()


@router.get("/live")
async def live(request: Request, signed: Viewer) -> StreamingResponse:
    services: Services = request.app.state.services
    return StreamingResponse(
        _nudges(services, await services.feed.last_seq()),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store"},
    )


async def _nudges(services: Services, after: int) -> AsyncIterator[bytes]:
    """The event types of each batch as one message (pages may reload only on some)."""
    feed = services.feed
    yield b"retry: 3000\n\n"
    while True:
        commit = feed.next_commit()
        events = await feed.read(after, 500)
        if events:
            after = events[-1].seq
            kinds = " ".join(sorted({e.type for e in events}))
            yield b"id: %d\ndata: %s\n\n" % (after, kinds.encode())
            continue
        await feed.wait(commit, 15.0)
        if not commit.done():
            yield b": keep-alive\n\n"
