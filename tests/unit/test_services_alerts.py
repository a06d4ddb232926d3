"""AlertService: one alert per open problem, repeats within COALESCE_SECONDS counted in
memory and stored with the next write or read, resolving and raising anew."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ampnexus.domain.alert import AlertKey, AlertKind, Severity
from ampnexus.domain.errors import NotFound
from ampnexus.domain.events import AlertRaised
from ampnexus.services.alerts import COALESCE_SECONDS, AlertService
from tests.fakes import Fakes

FOREIGN = AlertKey(AlertKind.FOREIGN_TRANSACTION, charge_point_id="CP-1")
SILENT = AlertKey(AlertKind.CHARGER_SILENT, charge_point_id="CP-1")


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()


@pytest.fixture
def alerts(fakes: Fakes) -> AlertService:
    return AlertService(fakes.alerts, fakes.clock, fakes.events)


async def test_repeats_within_the_window_cost_no_write_but_are_counted_on_read(
    fakes: Fakes, alerts: AlertService
) -> None:
    await alerts.raise_alert(FOREIGN, "first")
    for _ in range(5):
        fakes.clock.advance(seconds=1)
        await alerts.raise_alert(FOREIGN, "again", severity=Severity.CRITICAL, details={"n": 2})
    assert fakes.alerts.writes == 1
    [alert] = (await alerts.list()).items  # a read stores what was counted
    assert alert.count == 6
    assert (alert.message, alert.severity, alert.details) == (
        "again",
        Severity.CRITICAL,
        {"n": 2},
    )
    assert len(fakes.events.of(AlertRaised)) == 1  # published when opened, not per repeat


async def test_a_repeat_after_the_window_is_written_with_the_ones_counted_meanwhile(
    fakes: Fakes, alerts: AlertService
) -> None:
    await alerts.raise_alert(FOREIGN, "first")
    fakes.clock.advance(seconds=COALESCE_SECONDS - 0.001)
    await alerts.raise_alert(FOREIGN, "within")
    assert fakes.alerts.writes == 1
    fakes.clock.advance(seconds=0.001)  # exactly the window after the write: a write again
    await alerts.raise_alert(FOREIGN, "after")
    assert fakes.alerts.writes == 2
    [stored] = fakes.memory.alerts.values()  # read the store directly: no flush on the way
    assert stored.count == 3 and stored.last_raised_at == fakes.clock.now()
    assert stored.first_raised_at == fakes.clock.now() - timedelta(seconds=COALESCE_SECONDS)


async def test_keys_coalesce_independently(fakes: Fakes, alerts: AlertService) -> None:
    await alerts.raise_alert(FOREIGN, "foreign")
    await alerts.raise_alert(SILENT, "silent")
    await alerts.raise_alert(AlertKey(AlertKind.CHARGER_SILENT, charge_point_id="CP-2"), "other")
    assert fakes.alerts.writes == 3
    assert len(fakes.events.of(AlertRaised)) == 3


async def test_a_resolved_problem_raised_again_is_a_new_alert(
    fakes: Fakes, alerts: AlertService
) -> None:
    await alerts.raise_alert(SILENT, "no answer")
    await alerts.raise_alert(SILENT, "no answer")  # counted in memory
    assert await alerts.resolve(SILENT)
    assert not await alerts.resolve(SILENT)  # nothing open any more
    fakes.clock.advance(seconds=1)  # well within the window of the first write
    await alerts.raise_alert(SILENT, "no answer again")
    page = await alerts.list(kind=AlertKind.CHARGER_SILENT)
    assert [(a.open, a.count) for a in page.items] == [(True, 1), (False, 1)]
    assert [e.message for e in fakes.events.of(AlertRaised)] == ["no answer", "no answer again"]


async def test_resolving_by_id_stores_the_pending_repeats_first(
    fakes: Fakes, alerts: AlertService
) -> None:
    await alerts.raise_alert(FOREIGN, "x")
    await alerts.raise_alert(FOREIGN, "x")
    alert_id = next(iter(fakes.memory.alerts))
    resolved = await alerts.resolve_id(alert_id)
    assert (resolved.open, resolved.count) == (False, 2)
    await alerts.raise_alert(FOREIGN, "x")  # a new alert at once, not a repeat of the old
    assert (await alerts.list(open_only=True)).items[0].id != alert_id


async def test_unknown_alerts_are_not_found(alerts: AlertService) -> None:
    with pytest.raises(NotFound):
        await alerts.get(99)
    with pytest.raises(NotFound):
        await alerts.resolve_id(99)
