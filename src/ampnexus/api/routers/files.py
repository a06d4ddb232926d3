"""What chargers fetch and upload, without an API key: a charger holds none. Each URL carries
a random token (256 bits) that only the charger sent it knows; any wrong part is 404."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import FileResponse

from ampnexus.api.deps import ServicesDep
from ampnexus.api.uploads import body_file, too_large
from ampnexus.domain.firmware import FILES_PREFIX
from ampnexus.services.file_ports import TooLarge

router = APIRouter(prefix=FILES_PREFIX, include_in_schema=False)
Token = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Name = Annotated[str, Path(max_length=255)]


@router.api_route("/firmware/{token}/{name}", methods=["GET", "HEAD"])
async def download_firmware(token: Token, name: Name, services: ServicesDep) -> FileResponse:
    firmware, stored = await services.firmware.download(token, name)
    return FileResponse(stored, media_type="application/octet-stream", filename=firmware.name)


@router.api_route("/uploads/{token}", methods=["PUT", "POST"])
async def upload(token: Token, request: Request, services: ServicesDep) -> dict[str, Any]:
    """A charger's diagnostics or log upload: the raw body, or a form's file part."""
    return await _receive(token, None, request, services)


@router.api_route("/uploads/{token}/{name}", methods=["PUT", "POST"])
async def upload_named(
    token: Token, name: Name, request: Request, services: ServicesDep
) -> dict[str, Any]:
    """The same, for chargers that put the file's name after the location they were given."""
    return await _receive(token, name, request, services)


async def _receive(
    token: Token, name: str | None, request: Request, services: ServicesDep
) -> dict[str, Any]:
    await services.uploads.expect(token)  # 404 before a byte of the body is read
    offered, chunks = await body_file(request)
    try:
        received = await services.uploads.receive(token, offered or name, chunks)
    except TooLarge as error:
        raise too_large(error) from None
    return {"size": received.size, "sha256": received.sha256}
