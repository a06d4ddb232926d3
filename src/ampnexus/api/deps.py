"""Dependencies the routers inject: the services and pagination."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Query, Request

from ampnexus.api.auth import require_api_key
from ampnexus.domain.api_key import ApiKey

if TYPE_CHECKING:
    from ampnexus.app import Services


def get_services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Paging:
    limit: int
    offset: int


def paging(
    limit: Annotated[int, Query(ge=1, le=500, description="Page size")] = 50,
    offset: Annotated[int, Query(ge=0, le=2**63 - 1, description="Items to skip")] = 0,
) -> Paging:
    return Paging(limit, offset)


ServicesDep = Annotated["Services", Depends(get_services)]
PagingDep = Annotated[Paging, Depends(paging)]
# Who calls: the verified API key (cached per request, so verified once).
CallerDep = Annotated[ApiKey, Depends(require_api_key)]
