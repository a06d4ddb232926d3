"""The one file in a multipart/form-data body, streamed: chargers and operators post files
as forms, and a firmware image is too large to hold in memory. Parts before the file (form
fields) are skipped; the first part with a filename (or named "file") is the file."""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator

from ampnexus.domain.errors import Invalid

_HEAD_MAX = 16 * 1024  # a part's headers
_FILENAME = re.compile(r'filename="([^"]*)"', re.IGNORECASE)
_FILE_FIELD = re.compile(r'\bname="file"', re.IGNORECASE)
_BOUNDARY = re.compile(r'boundary="?([^";]{1,70})"?', re.IGNORECASE)


def boundary_of(content_type: str) -> bytes | None:
    """The boundary of a multipart/form-data Content-Type; None for any other type."""
    if not content_type.lower().startswith("multipart/form-data"):
        return None
    found = _BOUNDARY.search(content_type)
    if found is None:
        raise Invalid("multipart/form-data without a boundary")
    return found.group(1).encode("latin-1")


class _Reader:
    def __init__(self, chunks: AsyncIterable[bytes]) -> None:
        self._chunks = chunks.__aiter__()
        self._buffer = b""

    async def _fill(self) -> bool:
        try:
            self._buffer += await self._chunks.__anext__()
        except StopAsyncIteration:
            return False
        return True

    async def until(self, marker: bytes, most: int) -> bytes:
        """What comes before `marker` (at most `most` bytes), consuming both."""
        while (at := self._buffer.find(marker)) < 0:
            if len(self._buffer) > most or not await self._fill():
                raise Invalid("malformed multipart/form-data body")
        before, self._buffer = self._buffer[:at], self._buffer[at + len(marker) :]
        return before

    async def stream_until(self, marker: bytes) -> AsyncIterator[bytes]:
        """Everything before `marker`, as it arrives; keeps back what may begin it."""
        keep = len(marker) - 1
        while (at := self._buffer.find(marker)) < 0:
            if len(self._buffer) > keep:
                yield self._buffer[:-keep]
                self._buffer = self._buffer[-keep:]
            if not await self._fill():
                raise Invalid("multipart/form-data body ends inside a part")
        if at:
            yield self._buffer[:at]
        self._buffer = self._buffer[at + len(marker) :]


async def file_part(
    chunks: AsyncIterable[bytes], boundary: bytes
) -> tuple[str | None, AsyncIterator[bytes]]:
    """The file part's filename and content. Invalid when the body has no file part."""
    reader = _Reader(chunks)
    delimiter = b"\r\n--" + boundary
    await reader.until(b"--" + boundary, _HEAD_MAX)  # the preamble
    while True:
        head = (await reader.until(b"\r\n\r\n", _HEAD_MAX)).decode("latin-1")
        if head.startswith("--"):
            raise Invalid("the multipart/form-data body has no file part")
        name = _FILENAME.search(head)
        if name is not None or _FILE_FIELD.search(head):
            return (name.group(1) if name else None), reader.stream_until(delimiter)
        async for _ in reader.stream_until(delimiter):  # a form field: skipped
            pass
