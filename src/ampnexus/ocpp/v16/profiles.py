"""The OCPP 1.6 JSON form of charging profiles and composite schedules (camelCase, as in
SetChargingProfile.req, RemoteStartTransaction.req and GetCompositeSchedule.conf), read into
and written from the domain model of `domain/charging_profile.py`.

Reading checks what the schemas cannot (the domain's own rules) and raises Invalid with a
message naming the field at fault.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from ampnexus.domain.charging_profile import (
    ChargingProfile,
    ChargingRateUnit,
    ChargingSchedule,
    ProfileKind,
    ProfilePurpose,
    RecurrencyKind,
    SchedulePeriod,
    connector_problem,
    floor_tenth,
)
from ampnexus.domain.errors import Invalid
from ampnexus.domain.time import format_timestamp, parse_timestamp

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise Invalid(message)


def parse_profile(payload: dict[str, Any], *, connector_id: int | None = None) -> ChargingProfile:
    """A camelCase csChargingProfiles object; with `connector_id`, also checks it may go there.

    Raises Invalid with a message naming the field and what is wrong.
    """
    _check(isinstance(payload, dict), "csChargingProfiles must be an object")
    profile = ChargingProfile(
        id=_required(payload, "chargingProfileId", _integer),
        stack_level=_required(payload, "stackLevel", _integer),
        purpose=_required(payload, "chargingProfilePurpose", _member(ProfilePurpose)),
        kind=_required(payload, "chargingProfileKind", _member(ProfileKind)),
        schedule=_required(payload, "chargingSchedule", parse_schedule),
        recurrency_kind=_optional(payload, "recurrencyKind", _member(RecurrencyKind)),
        valid_from=_optional(payload, "validFrom", _timestamp),
        valid_to=_optional(payload, "validTo", _timestamp),
        transaction_id=_optional(payload, "transactionId", _integer),
    )
    problem = None if connector_id is None else connector_problem(connector_id, profile)
    if problem:
        raise Invalid(problem)
    return profile


def parse_schedule(payload: Any) -> ChargingSchedule:
    """A camelCase ChargingSchedule object."""
    _check(isinstance(payload, dict), "chargingSchedule must be an object")
    return ChargingSchedule(
        unit=_required(payload, "chargingRateUnit", _member(ChargingRateUnit)),
        periods=tuple(_required(payload, "chargingSchedulePeriod", _list_of(_parse_period))),
        duration=_optional(payload, "duration", _integer),
        start_schedule=_optional(payload, "startSchedule", _timestamp),
        min_charging_rate=_optional(payload, "minChargingRate", _number),
    )


def _parse_period(payload: Any) -> SchedulePeriod:
    _check(isinstance(payload, dict), "each chargingSchedulePeriod must be an object")
    return SchedulePeriod(
        start_period=_required(payload, "startPeriod", _integer),
        limit=_required(payload, "limit", _number),
        number_phases=_optional(payload, "numberPhases", _integer),
    )


def profile_to_ocpp(profile: ChargingProfile) -> dict[str, Any]:
    """The camelCase csChargingProfiles object of a SetChargingProfile.req."""
    payload: dict[str, Any] = {
        "chargingProfileId": profile.id,
        "stackLevel": profile.stack_level,
        "chargingProfilePurpose": profile.purpose.value,
        "chargingProfileKind": profile.kind.value,
    }
    optional = {
        "transactionId": profile.transaction_id,
        "recurrencyKind": profile.recurrency_kind and profile.recurrency_kind.value,
        "validFrom": profile.valid_from and format_timestamp(profile.valid_from),
        "validTo": profile.valid_to and format_timestamp(profile.valid_to),
    }
    payload.update({key: value for key, value in optional.items() if value is not None})
    payload["chargingSchedule"] = schedule_to_ocpp(profile.schedule)
    return payload


def schedule_to_ocpp(schedule: ChargingSchedule, *, with_start: bool = True) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "chargingRateUnit": schedule.unit.value,
        "chargingSchedulePeriod": [_period_to_ocpp(period) for period in schedule.periods],
    }
    if schedule.duration is not None:
        payload["duration"] = schedule.duration
    if with_start and schedule.start_schedule is not None:
        payload["startSchedule"] = format_timestamp(schedule.start_schedule)
    if schedule.min_charging_rate is not None:
        payload["minChargingRate"] = round(schedule.min_charging_rate, 1)
    return payload


def _period_to_ocpp(period: SchedulePeriod) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "startPeriod": period.start_period,
        "limit": floor_tenth(period.limit),
    }
    if period.number_phases is not None:
        payload["numberPhases"] = period.number_phases
    return payload


def composite_to_ocpp(connector_id: int, schedule: ChargingSchedule) -> dict[str, Any]:
    """An accepted GetCompositeSchedule.conf; the start goes in scheduleStart (errata 3.57)."""
    payload: dict[str, Any] = {"status": "Accepted", "connectorId": connector_id}
    if schedule.start_schedule is not None:
        payload["scheduleStart"] = format_timestamp(schedule.start_schedule)
    payload["chargingSchedule"] = schedule_to_ocpp(schedule, with_start=False)
    return payload


def parse_composite(payload: dict[str, Any]) -> ChargingSchedule | None:
    """A GetCompositeSchedule.conf's schedule, starting at its scheduleStart; None if Rejected."""
    if payload.get("status") != "Accepted" or payload.get("chargingSchedule") is None:
        return None
    schedule = parse_schedule(payload["chargingSchedule"])
    start = _optional(payload, "scheduleStart", _timestamp)
    return schedule if start is None else replace(schedule, start_schedule=start)


def _required(payload: Any, key: str, read: Callable[[Any], T]) -> T:
    if not isinstance(payload, dict) or payload.get(key) is None:
        raise Invalid(f"{key} is required")
    return _read(payload[key], key, read)


def _optional(payload: Any, key: str, read: Callable[[Any], T]) -> T | None:
    value = payload.get(key) if isinstance(payload, dict) else None
    return None if value is None else _read(value, key, read)


def _read(value: Any, key: str, read: Callable[[Any], T]) -> T:
    try:
        return read(value)
    except (TypeError, ValueError) as error:
        raise Invalid(f"{key}: {error}") from None


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def _timestamp(value: Any) -> datetime:
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO 8601 date-time, got {value!r}")
    return parse_timestamp(value)


def _member(kind: type[E]) -> Callable[[Any], E]:
    def read(value: Any) -> E:
        if not isinstance(value, str) or value not in {member.value for member in kind}:
            raise ValueError(f"expected one of {', '.join(kind)}, got {value!r}")
        return kind(value)

    return read


def _list_of(read: Callable[[Any], T]) -> Callable[[Any], list[T]]:
    def read_all(value: Any) -> list[T]:
        if not isinstance(value, list):
            raise TypeError(f"expected a list, got {value!r}")
        return [read(item) for item in value]

    return read_all


def parse_profile_strictly(
    payload: dict[str, Any], *, connector_id: int | None = None
) -> ChargingProfile:
    """`parse_profile`, also refusing fields OCPP does not define: what a person typed (typos
    would otherwise be dropped without a word)."""
    profile = parse_profile(payload, connector_id=connector_id)
    unknown = _unknown_fields(payload, profile_to_ocpp(profile))
    if unknown:
        raise Invalid(f"unknown charging profile field(s): {', '.join(unknown)}")
    return profile


def _unknown_fields(given: Any, known: Any, where: str = "") -> list[str]:
    """Paths of the fields in `given` that its canonical form `known` lacks."""
    if isinstance(given, list) and isinstance(known, list):
        return [
            path
            for index, (item, canonical) in enumerate(zip(given, known, strict=False))
            for path in _unknown_fields(item, canonical, f"{where}[{index}]")
        ]
    if not (isinstance(given, dict) and isinstance(known, dict)):
        return []
    unknown: list[str] = []
    for key, value in given.items():
        path = f"{where}.{key}" if where else key
        if key not in known and value is not None:
            unknown.append(path)
        else:
            unknown.extend(_unknown_fields(value, known.get(key), path))
    return unknown
