"""Files on disk under the data directory: `<root>/<area>/<key>`. A file is written under a
temporary name and renamed once whole, so a reader never sees half of one and a failed or
refused upload leaves nothing behind."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import secrets
from collections.abc import AsyncIterable
from pathlib import Path

from ampnexus.services.file_ports import StoredFile, TooLarge

_SAFE_PART = re.compile(r"[A-Za-z0-9_-]{1,64}")


class DiskFileStore:
    def __init__(self, root: Path) -> None:
        self._root = root

    def _file(self, area: str, key: str) -> Path:
        if not (_SAFE_PART.fullmatch(area) and _SAFE_PART.fullmatch(key)):
            raise ValueError(f"not a file key: {area}/{key}")  # our own keys only, never input
        return self._root / area / key

    async def save(
        self, area: str, key: str, chunks: AsyncIterable[bytes], max_bytes: int
    ) -> StoredFile:
        target = self._file(area, key)
        await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
        partial = target.with_name(f".{key}.{secrets.token_hex(6)}.part")
        digest, size = hashlib.sha256(), 0
        handle = await asyncio.to_thread(partial.open, "wb")
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(f"the file is larger than the {max_bytes} bytes allowed")
                digest.update(chunk)
                await asyncio.to_thread(handle.write, chunk)
            await asyncio.to_thread(handle.close)
            await asyncio.to_thread(os.replace, partial, target)
        except BaseException:
            handle.close()
            with contextlib.suppress(OSError):
                partial.unlink()
            raise
        return StoredFile(size, digest.hexdigest())

    def path(self, area: str, key: str) -> Path | None:
        found = self._file(area, key)
        return found if found.is_file() else None

    async def delete(self, area: str, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(self._file(area, key).unlink)
