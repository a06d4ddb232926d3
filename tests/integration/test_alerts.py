"""Alerts through the API: counted while open, filtered, resolved; on both databases."""

from __future__ import annotations

from typing import Any

import httpx

from ampnexus.app import AmpNexus
from ampnexus.domain.alert import AlertKey, AlertKind, Severity
from ampnexus.domain.events import AlertRaised


async def only_alert(api: httpx.AsyncClient, **filters: str) -> dict[str, Any]:
    page = (await api.get("/alerts", params=filters)).json()
    assert page["total"] == 1, page
    return page["items"][0]  # type: ignore[no-any-return]


async def test_a_repeated_problem_is_one_alert_counted(
    server: AmpNexus, api: httpx.AsyncClient
) -> None:
    raised: list[AlertRaised] = []
    server.services.bus.subscribe(AlertRaised, raised.append)
    alerts = server.services.alerts
    key = AlertKey(AlertKind.FOREIGN_TRANSACTION, charge_point_id="CP-1")
    for n in range(3):
        await alerts.raise_alert(key, f"CP-1 named transaction {n}", details={"n": n})
    await alerts.raise_alert(
        AlertKey(AlertKind.REPLAN_FAILED, site_id="depot"), "boom", severity=Severity.CRITICAL
    )

    alert = await only_alert(api, charge_point_id="CP-1")
    assert alert["kind"] == "foreign_transaction"
    assert alert["count"] == 3
    assert alert["message"] == "CP-1 named transaction 2"  # the latest occurrence
    assert alert["details"] == {"n": 2}
    assert alert["open"] is True
    assert [event.kind for event in raised] == ["foreign_transaction", "replan_failed"]

    replan = await only_alert(api, kind="replan_failed")
    assert replan["site_id"] == "depot" and replan["severity"] == "critical"


async def test_repeats_are_counted_in_memory_not_written_one_by_one(server: AmpNexus) -> None:
    alerts, writes = server.services.alerts, 0
    store = alerts._store
    write = store.raise_alert

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal writes
        writes += 1
        return await write(*args, **kwargs)

    store.raise_alert = counted  # type: ignore[method-assign]
    key = AlertKey(AlertKind.IMPLAUSIBLE_READING, charge_point_id="CP-9")
    for _ in range(500):
        await alerts.raise_alert(key, "power -5 W")
    assert writes == 1  # the first one; the other 499 wait in memory
    (alert,) = (await alerts.list(charge_point_id="CP-9")).items
    assert alert.count == 500 and writes == 2  # a read stores what was counted


async def test_a_resolved_alert_stays_resolved_and_a_new_one_opens(
    server: AmpNexus, api: httpx.AsyncClient
) -> None:
    alerts = server.services.alerts
    key = AlertKey(AlertKind.IMPLAUSIBLE_READING, charge_point_id="CP-2")
    await alerts.raise_alert(key, "power 9e99 W")
    first = await only_alert(api, charge_point_id="CP-2")

    resolved = await api.post(f"/alerts/{first['id']}/resolve")
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["open"] is False

    await alerts.raise_alert(key, "power -5 W")
    second = await only_alert(api, charge_point_id="CP-2", open="true")
    assert second["id"] != first["id"] and second["count"] == 1
    assert (await api.get("/alerts", params={"open": "false"})).json()["total"] == 1

    assert await alerts.resolve(key) is True
    assert await alerts.resolve(key) is False  # nothing open any more


async def test_unknown_alerts_and_bad_filters_are_client_errors(api: httpx.AsyncClient) -> None:
    missing = await api.get("/alerts/12345")
    assert missing.status_code == 404 and "12345" in missing.json()["detail"]
    assert (await api.post("/alerts/12345/resolve")).status_code == 404
    assert (await api.get("/alerts", params={"kind": "nonsense"})).status_code == 422
