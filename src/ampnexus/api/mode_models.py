"""Request and response bodies for chargers' charging modes (ADR 0009).

Times of day are site-local "HH:MM" (the site's `time_zone`), days `mon`..`sun`, energy in
kWh, delays in whole seconds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from ampnexus.api.models import Strict
from ampnexus.domain.charging_mode import (
    RANDOM_DELAY_LIMIT_S,
    ChargingMode,
    EffectiveMode,
    ModeChange,
    ModeChoice,
    ModeSettings,
    RegulationSettings,
    ScheduleSettings,
    WeeklyWindow,
    parse_window,
    settings_for,
)

ModeName = Literal[
    "regulation_compliance", "plug_and_charge", "schedule", "smart", "user_controlled"
]
DayName = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
TimeOfDay = Annotated[
    str,
    Field(
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        examples=["16:00"],
        description="Site-local time of day, HH:MM",
    ),
]
WINDOWS_MAX = 50

MODE_DESCRIPTION = (
    "regulation_compliance: the UK Smart Charge Points Regulations 2021 (no charging in peak "
    "windows, a random delay); plug_and_charge: charges as soon as a car plugs in; schedule: "
    "charges only inside `windows`; smart: the planner decides (tariffs, solar, limits); "
    "user_controlled: starts and stops only through the API"
)


class WindowIn(Strict):
    days: list[DayName] = Field(
        min_length=1, max_length=7, description="The days the window starts on"
    )
    start: TimeOfDay = Field(examples=["16:00"], description="Site-local start, inclusive")
    end: TimeOfDay = Field(
        examples=["22:00"],
        description="Site-local end, exclusive; at or before `start` it runs past midnight "
        "(00:00-00:00: the whole day)",
    )

    def to_domain(self) -> WeeklyWindow:
        return parse_window(self.days, self.start, self.end)


class WindowOut(BaseModel):
    days: list[str] = Field(description="The days the window starts on, mon..sun")
    start: str = Field(description="Site-local start, HH:MM, inclusive")
    end: str = Field(description="Site-local end, HH:MM, exclusive; at or before start: next day")

    @classmethod
    def of(cls, window: WeeklyWindow) -> WindowOut:
        return cls(
            days=window.day_names,
            start=window.start.strftime("%H:%M"),
            end=window.end.strftime("%H:%M"),
        )


class ModeIn(Strict):
    """A mode and its settings; settings left out take the Regulations' defaults, settings
    of another mode are refused."""

    mode: ModeName = Field(description=MODE_DESCRIPTION)
    peak_windows: list[WindowIn] | None = Field(
        None,
        max_length=WINDOWS_MAX,
        description="regulation_compliance: when not to charge. Left out: weekdays "
        "08:00-11:00 and 16:00-22:00; [] removes them",
    )
    random_delay_max_s: int | None = Field(
        None,
        ge=0,
        le=RANDOM_DELAY_LIMIT_S,
        description="regulation_compliance: the most a start or change of rate is delayed, "
        "uniformly at random, s. Left out: 600",
    )
    charger_applies_delay: bool | None = Field(
        None,
        description="regulation_compliance: the charger applies an equivalent random delay "
        "itself, so AmpNexus adds none. Left out: false",
    )
    windows: list[WindowIn] | None = Field(
        None,
        min_length=1,
        max_length=WINDOWS_MAX,
        description="schedule (required): charging only inside these, site-local",
    )
    energy_kwh: float | None = Field(
        None, gt=0, le=1e6, description="schedule: the energy a session should get, kWh"
    )

    def to_domain(self) -> tuple[ChargingMode, ModeSettings | None]:
        mode = ChargingMode(self.mode)
        settings = settings_for(
            mode,
            peak_windows=_windows(self.peak_windows),
            random_delay_max_s=self.random_delay_max_s,
            charger_applies_delay=self.charger_applies_delay,
            windows=_windows(self.windows),
            energy_wh=None if self.energy_kwh is None else self.energy_kwh * 1000,
        )
        return mode, settings


def _windows(given: list[WindowIn] | None) -> list[WeeklyWindow] | None:
    return None if given is None else [w.to_domain() for w in given]


class ModeChoiceOut(BaseModel):
    mode: ModeName = Field(description=MODE_DESCRIPTION)
    peak_windows: list[WindowOut] | None = Field(
        description="regulation_compliance: when not to charge (null for other modes)"
    )
    random_delay_max_s: int | None = Field(
        description="regulation_compliance: the largest random delay, s (null for other modes)"
    )
    charger_applies_delay: bool | None = Field(
        description="regulation_compliance: the charger delays by itself (null for other modes)"
    )
    windows: list[WindowOut] | None = Field(
        description="schedule: charging only inside these (null for other modes)"
    )
    energy_kwh: float | None = Field(description="schedule: energy target per session, kWh")

    @classmethod
    def of(cls, choice: ModeChoice) -> ModeChoiceOut:
        return cls(mode=choice.mode.value, **_settings_fields(choice.settings))


def _settings_fields(settings: ModeSettings | None) -> dict[str, Any]:
    fields: dict[str, Any] = dict.fromkeys(
        ("peak_windows", "random_delay_max_s", "charger_applies_delay", "windows", "energy_kwh")
    )
    if isinstance(settings, RegulationSettings):
        fields["peak_windows"] = [WindowOut.of(w) for w in settings.peak_windows]
        fields["random_delay_max_s"] = settings.random_delay_max_s
        fields["charger_applies_delay"] = settings.charger_applies_delay
    elif isinstance(settings, ScheduleSettings):
        fields["windows"] = [WindowOut.of(w) for w in settings.windows]
        fields["energy_kwh"] = None if settings.energy_wh is None else settings.energy_wh / 1000
    return fields


class ModeOut(ModeChoiceOut):
    charge_point_id: str = Field(description="The charge point's OCPP identity")
    source: Literal["charger", "site", "default"] = Field(
        description="Where the mode comes from: the charger's own, its site's default_mode, "
        "or neither (smart)"
    )
    site_id: str | None = Field(description="The site the charger is placed on, if any")
    own_mode: ModeName | None = Field(
        description="The charger's own mode, if it has one (also when it does not apply)"
    )
    changed_by: str | None = Field(description="The API key that set the charger's own mode")
    changed_at: datetime | None = Field(description="When the charger's own mode was set")
    note: str | None = Field(description="Why a mode asked for does not apply, if it does not")

    @classmethod
    def of_effective(cls, effective: EffectiveMode) -> ModeOut:
        own = effective.own
        return cls(
            charge_point_id=effective.charge_point_id,
            mode=effective.mode.value,
            **_settings_fields(effective.settings),
            source=effective.source.value,
            site_id=effective.site_id,
            own_mode=None if own is None else own.mode.value,
            changed_by=None if own is None else own.changed_by,
            changed_at=None if own is None else own.changed_at,
            note=effective.note,
        )


class ModeChangeOut(BaseModel):
    id: int = Field(description="Increases with every change recorded")
    charge_point_id: str = Field(description="The charge point's OCPP identity")
    kind: Literal["mode", "override_set", "override_cancelled"] = Field(
        description="mode: the charger's own mode or settings changed (before, after); "
        'override_set / override_cancelled: "charge now" set or cancelled on the session '
        "`transaction_id` (the charger's mode is unchanged, before and after are null)"
    )
    transaction_id: int | None = Field(description="The session of an override entry")
    changed_by: str = Field(description="The name of the API key that made the change")
    changed_at: datetime = Field(description="When, UTC")
    before: ModeChoiceOut | None = Field(
        description="The charger's own mode before (null: it followed its site; null on "
        "override entries)"
    )
    after: ModeChoiceOut | None = Field(
        description="Its own mode after (null: removed, it follows its site; null on "
        "override entries)"
    )

    @classmethod
    def of(cls, change: ModeChange) -> ModeChangeOut:
        assert change.id is not None  # stored changes have their id
        return cls(
            id=change.id,
            charge_point_id=change.charge_point_id,
            kind=change.kind.value,
            transaction_id=change.transaction_id,
            changed_by=change.changed_by,
            changed_at=change.changed_at,
            before=None if change.before is None else ModeChoiceOut.of(change.before),
            after=None if change.after is None else ModeChoiceOut.of(change.after),
        )
