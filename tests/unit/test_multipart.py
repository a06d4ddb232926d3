"""The streamed multipart/form-data reader: the file part, however the body is cut."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from ampnexus.api.multipart import boundary_of, file_part
from ampnexus.domain.errors import Invalid

BOUNDARY = b"----b0undary"


def form(*parts: tuple[bytes, bytes]) -> bytes:
    body = b""
    for head, content in parts:
        body += b"--" + BOUNDARY + b"\r\n" + head + b"\r\n\r\n" + content + b"\r\n"
    return body + b"--" + BOUNDARY + b"--\r\n"


async def pieces(body: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def read(body: bytes, size: int) -> tuple[str | None, bytes]:
    name, chunks = await file_part(pieces(body, size), BOUNDARY)
    return name, b"".join([chunk async for chunk in chunks])


# Content that nearly repeats the delimiter, so a cut inside it must not end the part early.
CONTENT = os.urandom(5000) + b"\r\n--" + BOUNDARY[:-1] + b"x\r\n" + os.urandom(100)


@pytest.mark.parametrize("size", [1, 7, 64, 4096, 1_000_000])
async def test_the_file_part_whole_however_the_body_is_cut(size):
    body = form(
        (b'Content-Disposition: form-data; name="note"', b"hello"),
        (
            b'Content-Disposition: form-data; name="file"; filename="diag.zip"\r\n'
            b"Content-Type: application/zip",
            CONTENT,
        ),
    )
    assert await read(body, size) == ("diag.zip", CONTENT)


async def test_a_form_without_a_file_is_invalid():
    body = form((b'Content-Disposition: form-data; name="note"', b"hello"))
    with pytest.raises(Invalid):
        await read(body, 10)


async def test_a_cut_off_body_is_invalid():
    body = form((b'Content-Disposition: form-data; name="file"; filename="a"', CONTENT))
    with pytest.raises(Invalid):
        await read(body[:3000], 100)


def test_the_boundary_of_a_content_type():
    assert boundary_of('multipart/form-data; boundary="abc"') == b"abc"
    assert boundary_of("multipart/form-data; boundary=abc; charset=x") == b"abc"
    assert boundary_of("application/octet-stream") is None
    with pytest.raises(Invalid):
        boundary_of("multipart/form-data")
