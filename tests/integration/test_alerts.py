"""Alerts through the API: counted while open, filtered, resolved; on both databases."""

from __future__ import annotations

import httpx

from ampnexus.app import AmpNexus
from ampnexus.domain.alert import AlertKey, AlertKind, Severity
from ampnexus.domain.events import AlertRaised


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

    page = (await api.get("/alerts", params={"charge_point_id": "CP-1"})).json()
    assert page["total"] == 1
    (alert,) = page["items"]
    assert alert["kind"] == "foreign_transaction"
    assert alert["count"] == 3
    assert alert["message"] == "CP-1 named transaction 2"  # the latest occurrence
    assert alert["details"] == {"n": 2}
    assert alert["open"] is True
    assert [event.kind for event in raised] == ["foreign_transaction", "replan_failed"]

    by_kind = (await api.get("/alerts", params={"kind": "replan_failed"})).json()
    assert [a["site_id"] for a in by_kind["items"]] == ["depot"]
    assert by_kind["items"][0]["severity"] == "critical"


async def test_a_resolved_alert_stays_resolved_and_a_new_one_opens(
    server: AmpNexus, api: httpx.AsyncClient
) -> None:
    alerts = server.services.alerts
    key = AlertKey(AlertKind.IMPLAUSIBLE_READING, charge_point_id="CP-2")
    first = await alerts.raise_alert(key, "power 9e99 W")

    resolved = await api.post(f"/alerts/{first.id}/resolve")
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["open"] is False

    second = await alerts.raise_alert(key, "power -5 W")
    assert second.id != first.id and second.count == 1
    assert (await api.get("/alerts", params={"open": "false"})).json()["total"] == 1
    assert (await api.get("/alerts", params={"open": "true"})).json()["total"] == 1

    assert await alerts.resolve(key) is True
    assert await alerts.resolve(key) is False  # nothing open any more


async def test_unknown_alerts_and_bad_filters_are_client_errors(api: httpx.AsyncClient) -> None:
    missing = await api.get("/alerts/12345")
    assert missing.status_code == 404 and "12345" in missing.json()["detail"]
    assert (await api.post("/alerts/12345/resolve")).status_code == 404
    assert (await api.get("/alerts", params={"kind": "nonsense"})).status_code == 422
