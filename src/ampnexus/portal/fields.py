"""Reading a portal form's fields: each value checked against the bound the API and OCPP
1.6 set for it, refused with an `Invalid` that names the field (the page shows it)."""

from __future__ import annotations

import math
from enum import StrEnum
from typing import TypeVar

from ampnexus.domain.errors import Invalid

INT32_MAX = 2**31 - 1  # OCPP's integers
E = TypeVar("E", bound=StrEnum)


def text(fields: dict[str, str], name: str, longest: int = 1000) -> str | None:
    """A field's stripped text, None when blank; Invalid when longer than `longest`."""
    value = fields.get(name, "").strip()
    if len(value) > longest:
        raise Invalid(f"{name.replace('_', ' ')} must be at most {longest} characters")
    return value or None


def sized(value: str, what: str, most: int, least: int = 0) -> str:
    """A value within OCPP's length for it (CiString20 for an id tag, ...)."""
    if not least <= len(value) <= most:
        raise Invalid(f"{what} must be {least} to {most} characters, got {len(value)}")
    return value


def number(fields: dict[str, str], name: str, label: str) -> float | None:
    """A decimal field, None when blank; Invalid (naming it) when not a finite number."""
    value = fields.get(name, "").strip()
    if not value:
        return None
    try:
        parsed = float(value)
    except ValueError:
        raise Invalid(f"{label} must be a number, got {value[:30]!r}") from None
    if not math.isfinite(parsed) or abs(parsed) > 1e9:
        raise Invalid(f"{label} must be a finite number, got {value[:30]!r}")
    return parsed


def whole(value: str, what: str, least: int = 0) -> int:
    """A whole number, from `least` to OCPP's integer limit."""
    try:
        parsed = int(value.strip())
    except ValueError:
        raise Invalid(f"{what} must be a whole number, got {value[:30]!r}") from None
    if not least <= parsed <= INT32_MAX:
        raise Invalid(f"{what} must be {least} or more, got {parsed}")
    return parsed


def choice(kind: type[E], value: str) -> E:
    """One of an enumeration's values."""
    try:
        return kind(value)
    except ValueError:
        raise Invalid(f"Choose one of {', '.join(k.value for k in kind)}") from None
