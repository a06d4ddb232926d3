"""Liveness for load balancers and operators; needs no key."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from ampnexus import __version__

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    version: str


@router.get("/health")
async def health() -> Health:
    return Health(status="ok", version=__version__)
