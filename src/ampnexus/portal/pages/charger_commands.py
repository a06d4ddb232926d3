"""The commands an operator sends a charger from its page (remote start and stop, reset,
unlock, availability, configuration keys), through the same service as the REST API; the
flash message says what the charger answered, in its own words."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ampnexus.domain.commands import Availability, ResetKind
from ampnexus.domain.errors import DomainError
from ampnexus.portal.auth import Operator, Viewer, changed_by
from ampnexus.portal.fields import INT32_MAX, choice, sized, whole
from ampnexus.portal.render import (
    done,
    failed_for,
    form,
    page,
)

if TYPE_CHECKING:
    from ampnexus.app import Services

router = APIRouter()

ID_TAG_MAX = 20  # CiString20
CONFIG_KEY_MAX, CONFIG_VALUE_MAX = 50, 500


@router.post("/charge-points/{charge_point_id}/remote-start")
async def remote_start(request: Request, charge_point_id: str, signed: Operator) -> Response:
    fields = await form(request)
    services: Services = request.app.state.services

    async def send() -> Any:
        id_tag = sized(fields.get("id_tag", ""), "Id tag", ID_TAG_MAX, least=1)
        connector = fields.get("connector_id", "").strip()
        connector_id = whole(connector, "Connector id", least=1) if connector else None
        return await services.commands.remote_start(
            charge_point_id, id_tag, connector_id, None, changed_by(signed)
        )

    return await _command(request, charge_point_id, "Remote start", send)


@router.post("/charge-points/{charge_point_id}/remote-stop")
async def remote_stop(request: Request, charge_point_id: str, signed: Operator) -> Response:
    fields = await form(request)
    services: Services = request.app.state.services

    async def send() -> Any:
        text = fields.get("transaction_id", "")
        transaction_id = whole(text, "Session", least=-INT32_MAX - 1)
        return await services.commands.remote_stop(charge_point_id, transaction_id)

    return await _command(request, charge_point_id, "Remote stop", send)


@router.post("/charge-points/{charge_point_id}/reset")
async def reset(request: Request, charge_point_id: str, signed: Operator) -> Response:
    fields = await form(request)
    services: Services = request.app.state.services
    kind = fields.get("type", "")

    async def send() -> Any:
        return await services.commands.reset(charge_point_id, choice(ResetKind, kind))

    return await _command(request, charge_point_id, f"{kind} reset", send)


@router.post("/charge-points/{charge_point_id}/unlock")
async def unlock(request: Request, charge_point_id: str, signed: Operator) -> Response:
    fields = await form(request)
    services: Services = request.app.state.services

    async def send() -> Any:
        connector_id = whole(fields.get("connector_id", ""), "Connector id", least=1)
        return await services.commands.unlock(charge_point_id, connector_id)

    return await _command(request, charge_point_id, "Unlock", send)


@router.post("/charge-points/{charge_point_id}/availability")
async def availability(request: Request, charge_point_id: str, signed: Operator) -> Response:
    fields = await form(request)
    services: Services = request.app.state.services

    async def send() -> Any:
        connector_id = whole(fields.get("connector_id", ""), "Connector id")
        wanted = choice(Availability, fields.get("type", ""))
        return await services.commands.change_availability(charge_point_id, connector_id, wanted)

    return await _command(request, charge_point_id, "Change availability", send)


@router.post("/charge-points/{charge_point_id}/configuration")
async def change_configuration(
    request: Request, charge_point_id: str, signed: Operator
) -> Response:
    fields = await form(request)
    services: Services = request.app.state.services
    key = fields.get("key", "").strip()

    async def send() -> Any:
        checked = sized(key, "Key", CONFIG_KEY_MAX, least=1)
        value = sized(fields.get("value", ""), "Value", CONFIG_VALUE_MAX)
        return await services.commands.change_configuration(charge_point_id, checked, value)

    return await _command(request, charge_point_id, f"Setting {key}", send)


@router.get("/fragments/charge-points/{charge_point_id}/configuration", response_class=HTMLResponse)
async def configuration(request: Request, charge_point_id: str, signed: Viewer) -> Response:
    """GetConfiguration, asked when someone presses the button: the charger's keys now."""
    services: Services = request.app.state.services
    back = f"/charge-points/{charge_point_id}"
    try:
        read = await services.commands.get_configuration(charge_point_id, None)
    except DomainError as error:
        return failed_for(request, error, back)
    keys = sorted(read.values.items(), key=lambda item: item[0].lower())
    return page(request, "_charge_point_config.html", signed, keys=keys, read_only=read.read_only)


async def _command(
    request: Request, charge_point_id: str, what: str, send: Callable[[], Awaitable[Any]]
) -> Response:
    """Send a command and say what the charger answered (in its own words), or why not."""
    back = f"/charge-points/{charge_point_id}"
    try:
        answer = await send()
    except DomainError as error:
        return failed_for(request, error, back)
    status = answer.as_sent.get("status") or answer.status.value
    return done(request, f"{what}: {charge_point_id} answered {status}.", back)
