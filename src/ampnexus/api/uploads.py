"""Reading a request body as a file: raw, or the file part of a multipart/form-data form."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import HTTPException, Request

from ampnexus.api.multipart import boundary_of, file_part
from ampnexus.services.file_ports import TooLarge


async def body_file(request: Request) -> tuple[str | None, AsyncIterator[bytes]]:
    """The file's name (a form's filename; None in a raw body) and its bytes."""
    chunks = _chunks(request)
    boundary = boundary_of(request.headers.get("content-type", ""))
    if boundary is None:
        return None, chunks
    return await file_part(chunks, boundary)


async def _chunks(request: Request) -> AsyncIterator[bytes]:
    async for chunk in request.stream():
        if chunk:
            yield chunk


def too_large(error: TooLarge) -> HTTPException:
    return HTTPException(413, str(error), headers={"Connection": "close"})
