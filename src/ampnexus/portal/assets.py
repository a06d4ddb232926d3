"""The front-end libraries the portal serves itself: installed from the npm registry by
`make install` (`npm ci`, see package.json), never loaded from a CDN (a site's edge box has
no internet)."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

# What the pages load, by the name they load it as.
VENDOR = {
    "htmx.min.js": "htmx.org/dist/htmx.min.js",
    "uPlot.iife.min.js": "uplot/dist/uPlot.iife.min.js",
    "uPlot.min.css": "uplot/dist/uPlot.min.css",
}


def node_modules() -> Path:
    """AMPNEXUS_PORTAL_ASSETS, else the checkout's node_modules (where `make install` puts
    them)."""
    configured = os.environ.get("AMPNEXUS_PORTAL_ASSETS")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[3] / "node_modules"


def assets_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)
    root = node_modules()

    @router.get("/assets/{name}")
    async def asset(name: str) -> FileResponse:
        relative = VENDOR.get(name)
        if relative is None:
            raise HTTPException(404, f"no asset {name}")
        path = root / relative
        if not path.is_file():
            raise HTTPException(
                503,
                f"{path} is missing: run `make install` (npm ci) to install the portal's assets",
            )
        return FileResponse(path, headers={"Cache-Control": "public, max-age=86400"})

    return router
