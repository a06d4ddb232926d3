"""Drivers: the id tags that may start a charge (add, block, unblock, delete) and the driver
profiles bound to them (priority, power cap, usual session)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response

from ampnexus.domain.driver import DriverProfile, PriorityClass
from ampnexus.domain.errors import DomainError, Invalid
from ampnexus.domain.id_tag import AuthorizationStatus, IdTag
from ampnexus.domain.user import Role
from ampnexus.portal.auth import Operator, Signed, Viewer, may
from ampnexus.portal.fields import number, text
from ampnexus.portal.pages.admin_forms import PAGE
from ampnexus.portal.render import done, failed, form, page

if TYPE_CHECKING:
    from ampnexus.app import Services

router = APIRouter()
BACK = "/drivers"
ProfileId = Annotated[int, Path(ge=1, le=2**31 - 1)]
SETTABLE = (AuthorizationStatus.ACCEPTED, AuthorizationStatus.BLOCKED)


@dataclass
class Drivers:
    tags: list[IdTag]
    profiles: list[DriverProfile]
    driver_of: dict[str, str]  # id tag (lower-cased) -> the name of its driver profile

    @property
    def unbound(self) -> list[IdTag]:
        """Tags no driver has yet: the ones a profile can be given."""
        return [t for t in self.tags if t.id_tag.lower() not in self.driver_of]


@router.get("/drivers", response_class=HTMLResponse)
async def drivers_page(request: Request, signed: Viewer) -> Response:
    return await _render(request, signed, "drivers.html", nav="drivers")


@router.get("/fragments/drivers", response_class=HTMLResponse)
async def drivers_fragment(request: Request, signed: Viewer) -> Response:
    return await _render(request, signed, "_drivers.html")


async def _render(request: Request, signed: Signed, template: str, **context: Any) -> Response:
    services: Services = request.app.state.services
    tags = (await services.authorization.list(PAGE, 0)).items
    profiles = (await services.drivers.list(PAGE, 0)).items
    driver_of = {tag.lower(): p.name for p in profiles for tag in p.id_tags}
    board = Drivers(list(tags), list(profiles), driver_of)
    return page(
        request,
        template,
        signed,
        drivers=board,
        can_act=may(signed, Role.OPERATOR),
        statuses=SETTABLE,
        priorities=list(PriorityClass),
        **context,
    )


@router.post("/drivers/id-tags")
async def add_id_tag(request: Request, signed: Operator) -> Response:
    services: Services = request.app.state.services
    fields = await form(request)
    try:
        tag = IdTag(
            id_tag=fields.get("id_tag", "").strip(),
            status=_status(fields.get("status", "Accepted")),
            expiry_date=_utc_moment(fields.get("expiry_date", "")),
            parent_id_tag=text(fields, "parent_id_tag", 20),
            description=text(fields, "description"),
        )
        added = await services.authorization.add(tag)
    except DomainError as error:
        return failed(request, str(error), BACK)
    return done(request, f"Id tag {added.id_tag} added ({added.status}).", BACK)


@router.post("/drivers/id-tags/status")
async def set_id_tag_status(request: Request, signed: Operator) -> Response:
    services: Services = request.app.state.services
    fields = await form(request)
    id_tag = fields.get("id_tag", "")
    try:
        status = _status(fields.get("status", ""))
        await services.authorization.update(id_tag, {"status": status})
    except DomainError as error:
        return failed(request, str(error), BACK)
    verb = "blocked" if status is AuthorizationStatus.BLOCKED else "accepted again"
    return done(request, f"Id tag {id_tag} {verb}.", BACK)


@router.post("/drivers/id-tags/delete")
async def delete_id_tag(request: Request, signed: Operator) -> Response:
    services: Services = request.app.state.services
    id_tag = (await form(request)).get("id_tag", "")
    try:
        await services.authorization.delete(id_tag)
    except DomainError as error:
        return failed(request, str(error), BACK)
    return done(request, f"Id tag {id_tag} deleted.", BACK)


@router.post("/drivers/profiles")
async def create_profile(request: Request, signed: Operator) -> Response:
    services: Services = request.app.state.services
    fields = await form(request)
    try:
        power_kw = number(fields, "max_power_kw", "max power")
        energy_kwh = number(fields, "default_energy_kwh", "default energy")
        profile = DriverProfile(
            name=text(fields, "name", 100) or "",
            priority=_priority(fields.get("priority", "standard")),
            max_power_w=None if power_kw is None else power_kw * 1000,
            default_energy_wh=None if energy_kwh is None else energy_kwh * 1000,
            default_departure=_time_of_day(fields.get("default_departure", "")),
            id_tags=tuple(t.strip() for t in fields.get("id_tags", "").split(",") if t.strip()),
        )
        created = await services.drivers.create(profile)
    except DomainError as error:
        return failed(request, str(error), BACK)
    return done(request, f"Driver profile {created.name} created.", BACK)


@router.post("/drivers/profiles/{profile_id}/bind")
async def bind_id_tag(request: Request, profile_id: ProfileId, signed: Operator) -> Response:
    services: Services = request.app.state.services
    id_tag = (await form(request)).get("id_tag", "").strip()
    try:
        if not id_tag:
            raise Invalid("choose an id tag to assign")
        profile = await services.drivers.bind(profile_id, id_tag)
    except DomainError as error:
        return failed(request, str(error), BACK)
    return done(request, f"Id tag {id_tag} assigned to {profile.name}.", BACK)


@router.post("/drivers/profiles/{profile_id}/unbind")
async def unbind_id_tag(request: Request, profile_id: ProfileId, signed: Operator) -> Response:
    services: Services = request.app.state.services
    id_tag = (await form(request)).get("id_tag", "")
    try:
        await services.drivers.unbind(profile_id, id_tag)
    except DomainError as error:
        return failed(request, str(error), BACK)
    return done(request, f"Id tag {id_tag} no longer belongs to profile {profile_id}.", BACK)


@router.post("/drivers/profiles/{profile_id}/delete")
async def delete_profile(request: Request, profile_id: ProfileId, signed: Operator) -> Response:
    services: Services = request.app.state.services
    try:
        await services.drivers.delete(profile_id)
    except DomainError as error:
        return failed(request, str(error), BACK)
    return done(request, f"Driver profile {profile_id} deleted.", BACK)


def _status(value: str) -> AuthorizationStatus:
    """Only what an operator sets: Expired follows from the expiry date."""
    for status in SETTABLE:
        if value == status.value:
            return status
    raise Invalid(f"status must be Accepted or Blocked, got {value[:20]!r}")


def _priority(value: str) -> PriorityClass:
    try:
        return PriorityClass(value)
    except ValueError:
        raise Invalid(f"priority must be premium or standard, got {value[:20]!r}") from None


def _utc_moment(value: str) -> datetime | None:
    """A datetime-local field (YYYY-MM-DDTHH:MM), read as UTC: a tag belongs to no site."""
    value = value.strip()
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        wanted = "a date and time (YYYY-MM-DD HH:MM)"
        raise Invalid(f"expiry must be {wanted}, got {value[:30]!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _time_of_day(value: str) -> time | None:
    value = value.strip()
    if not value:
        return None
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise Invalid(f"departure must be a time of day (HH:MM), got {value[:30]!r}") from None
