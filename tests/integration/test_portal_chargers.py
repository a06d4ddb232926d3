"""The chargers' pages over plain HTTP: who may act, CSRF, invalid settings and commands
to a charger that is not there, answered with a reason and changing nothing."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from ampnexus.app import AmpNexus
from ampnexus.domain.charging_mode import (
    DEFAULT_PEAK_WINDOWS,
    ChargingMode,
    ModeSource,
    RegulationSettings,
)
from ampnexus.domain.user import Role
from tests.support.charger import charger
from tests.support.portal import portal_client, portal_sign_in

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

OPERATOR = ("op@example.com", "a long operator password")
VIEWER = ("viewer@example.com", "a long viewer password")
CP = "CP-PORTAL"
HTMX = {"HX-Request": "true"}

# Every action the charger's pages offer, with a body that would be valid.
ACTIONS = {
    "registration": {"status": "Accepted"},
    "mode": {"mode": "smart"},
    "mode/clear": {},
    "remote-start": {"id_tag": "TAG-1", "connector_id": "1"},
    "remote-stop": {"transaction_id": "1"},
    "reset": {"type": "Soft"},
    "unlock": {"connector_id": "1"},
    "availability": {"connector_id": "0", "type": "Inoperative"},
    "configuration": {"key": "HeartbeatInterval", "value": "60"},
}


@pytest.fixture
async def server_with_charger(server: AmpNexus) -> AmpNexus:
    await server.services.users.create(*OPERATOR, Role.OPERATOR)
    await server.services.users.create(*VIEWER, Role.VIEWER)
    await server.services.charge_points.register(
        CP, password="a-charger-password-16", security_profile=1
    )
    return server


@contextlib.asynccontextmanager
async def signed_in(
    server: AmpNexus, email: str, password: str
) -> AsyncIterator[httpx.AsyncClient]:
    async with portal_client(f"http://127.0.0.1:{server.http_port}") as client:
        assert (await portal_sign_in(client, email, password)).status_code == 303
        yield client


@pytest.fixture
async def operator(server_with_charger: AmpNexus) -> AsyncIterator[httpx.AsyncClient]:
    async with signed_in(server_with_charger, *OPERATOR) as client:
        yield client


@pytest.fixture
async def viewer(server_with_charger: AmpNexus) -> AsyncIterator[httpx.AsyncClient]:
    async with signed_in(server_with_charger, *VIEWER) as client:
        yield client


def csrf_of(html: str) -> str:
    found = re.search(r'"X-CSRF-Token": "([^"]+)"', html)
    assert found, html
    return found[1]


async def test_a_viewer_sees_the_pages_but_no_forms_and_every_action_is_refused(
    server_with_charger: AmpNexus, viewer: httpx.AsyncClient
) -> None:
    listed = await viewer.get("/charge-points")
    assert listed.status_code == 200 and f'id="cp-{CP}"' in listed.text
    shown = await viewer.get(f"/charge-points/{CP}")
    assert shown.status_code == 200 and f"Charger {CP}" in shown.text
    assert "Save mode" not in shown.text and "Remote start" not in shown.text
    assert "Read from the charger" in shown.text  # reading is not changing
    token = csrf_of(shown.text)
    for path, body in ACTIONS.items():
        refused = await viewer.post(
            f"/charge-points/{CP}/{path}", data={**body, "csrf": token}, headers=HTMX
        )
        assert refused.status_code == 403, path
        assert "operator role" in refused.text
    effective = await server_with_charger.services.modes.effective(CP)
    assert effective.source is ModeSource.DEFAULT


async def test_an_action_without_the_csrf_token_is_refused_and_changes_nothing(
    server_with_charger: AmpNexus, operator: httpx.AsyncClient
) -> None:
    body = {
        "mode": "schedule",
        "window0_days": "mon",
        "window0_start": "23:00",
        "window0_end": "07:00",
    }
    refused = await operator.post(f"/charge-points/{CP}/mode", data=body)
    assert refused.status_code == 403 and "CSRF" in refused.text
    forged = await operator.post(f"/charge-points/{CP}/mode", data={**body, "csrf": "forged"})
    assert forged.status_code == 403
    assert (await server_with_charger.services.modes.effective(CP)).mode is ChargingMode.SMART
    # With the page's token (in the form, as without JavaScript) it is stored.
    token = csrf_of((await operator.get(f"/charge-points/{CP}")).text)
    stored = await operator.post(f"/charge-points/{CP}/mode", data={**body, "csrf": token})
    assert stored.status_code == 303 and stored.headers["location"] == f"/charge-points/{CP}"
    effective = await server_with_charger.services.modes.effective(CP)
    assert effective.mode is ChargingMode.SCHEDULE and effective.source is ModeSource.CHARGER
    history = await server_with_charger.services.modes.history(CP, 10, 0)
    assert history.items[0].changed_by == f"portal:{OPERATOR[0]}"


async def test_invalid_mode_settings_are_refused_with_a_reason_and_change_nothing(
    server_with_charger: AmpNexus, operator: httpx.AsyncClient
) -> None:
    token = csrf_of((await operator.get(f"/charge-points/{CP}")).text)
    headers = {**HTMX, "X-CSRF-Token": token}
    cases = {
        "peak window 1 start: give a time of day as hh:mm": {
            "mode": "regulation_compliance",
            "peak0_days": "mon",
            "peak0_start": "25:00",
            "peak0_end": "07:00",
        },
        "window 1: tick at least one day": {
            "mode": "schedule",
            "window0_start": "23:00",
            "window0_end": "07:00",
        },
        "maximum random delay must be 0 to 1800 s": {
            "mode": "regulation_compliance",
            "random_delay_max_s": "5000",
        },
        "a schedule needs at least one window": {"mode": "schedule"},
        "unknown charging mode": {"mode": "turbo"},
        "energy per session must be a number of kwh": {
            "mode": "schedule",
            "window0_days": "sun",
            "window0_start": "01:00",
            "window0_end": "05:00",
            "energy_kwh": "lots",
        },
    }
    for reason, body in cases.items():
        answer = await operator.post(f"/charge-points/{CP}/mode", data=body, headers=headers)
        assert answer.status_code == 422, body
        assert 'role="alert"' in answer.text and reason in answer.text.lower(), answer.text
    assert (await server_with_charger.services.modes.effective(CP)).source is ModeSource.DEFAULT
    assert (await server_with_charger.services.modes.history(CP, 10, 0)).total == 0


async def test_commands_to_an_offline_charger_say_so_and_an_unknown_charger_is_404(
    server_with_charger: AmpNexus, operator: httpx.AsyncClient
) -> None:
    token = csrf_of((await operator.get(f"/charge-points/{CP}")).text)
    headers = {**HTMX, "X-CSRF-Token": token}
    for path in ("remote-start", "remote-stop", "reset", "unlock", "availability", "configuration"):
        answer = await operator.post(
            f"/charge-points/{CP}/{path}", data=ACTIONS[path], headers=headers
        )
        assert answer.status_code == 422, path
        assert "is not connected" in answer.text, answer.text
    read = await operator.get(f"/fragments/charge-points/{CP}/configuration", headers=HTMX)
    assert read.status_code == 422 and "is not connected" in read.text

    missing = await operator.get("/charge-points/NOPE")
    assert missing.status_code == 404 and "No such charger" in missing.text
    assert (await operator.get("/fragments/charge-points/NOPE", headers=HTMX)).status_code == 404
    for path, body in ACTIONS.items():
        answer = await operator.post(f"/charge-points/NOPE/{path}", data=body, headers=headers)
        assert answer.status_code == 404, path
        assert "not registered" in answer.text


async def test_a_connected_charger_answers_commands_and_shows_its_configuration(
    server_with_charger: AmpNexus, operator: httpx.AsyncClient
) -> None:
    url = f"ws://127.0.0.1:{server_with_charger.ocpp_port}/ocpp"
    async with charger(url, CP, password="a-charger-password-16") as cp:
        await cp.boot()
        await cp.status(1, "Available")
        token = csrf_of((await operator.get(f"/charge-points/{CP}")).text)
        headers = {**HTMX, "X-CSRF-Token": token}
        cp.answers["Reset"] = "Rejected"
        reset = await operator.post(
            f"/charge-points/{CP}/reset", data={"type": "Hard"}, headers=headers
        )
        assert reset.status_code == 200 and "answered Rejected" in reset.text
        assert (await cp.wait_for("Reset"))["type"] == "Hard"
        bad = await operator.post(
            f"/charge-points/{CP}/unlock", data={"connector_id": "0"}, headers=headers
        )
        assert bad.status_code == 422 and "Connector id must be 1 or more" in bad.text
        read = await operator.get(f"/fragments/charge-points/{CP}/configuration", headers=HTMX)
        assert read.status_code == 200
        assert "HeartbeatInterval" in read.text and "NumberOfConnectors" in read.text
        changed = await operator.post(
            f"/charge-points/{CP}/configuration", data=ACTIONS["configuration"], headers=headers
        )
        assert "answered Accepted" in changed.text
        assert (await cp.wait_for("ChangeConfiguration")) == {
            "key": "HeartbeatInterval",
            "value": "60",
        }


async def test_regulation_mode_is_refused_for_a_charger_without_authentication(
    server_with_charger: AmpNexus, operator: httpx.AsyncClient
) -> None:
    await server_with_charger.services.charge_points.register(
        "CP-OPEN", password=None, security_profile=0
    )
    token = csrf_of((await operator.get("/charge-points/CP-OPEN")).text)
    answer = await operator.post(
        "/charge-points/CP-OPEN/mode",
        data={"mode": "regulation_compliance", "random_delay_max_s": "600"},
        headers={**HTMX, "X-CSRF-Token": token},
    )
    assert answer.status_code == 422 and "security profile 0" in answer.text
    effective = await server_with_charger.services.modes.effective("CP-OPEN")
    assert effective.source is ModeSource.DEFAULT


async def test_peak_rows_left_out_keep_the_regulations_hours_and_blank_rows_remove_them(
    server_with_charger: AmpNexus, operator: httpx.AsyncClient
) -> None:
    token = csrf_of((await operator.get(f"/charge-points/{CP}")).text)
    headers = {**HTMX, "X-CSRF-Token": token}
    body = {"mode": "regulation_compliance", "random_delay_max_s": "300"}
    kept = await operator.post(f"/charge-points/{CP}/mode", data=body, headers=headers)
    assert kept.status_code == 200 and "regulation compliance (charger)" in kept.text
    settings = (await server_with_charger.services.modes.effective(CP)).settings
    assert isinstance(settings, RegulationSettings)
    assert settings.peak_windows == DEFAULT_PEAK_WINDOWS and settings.random_delay_max_s == 300
    blank = {**body, "peak0_start": "", "peak0_end": "", "peak1_start": "", "peak1_end": ""}
    removed = await operator.post(f"/charge-points/{CP}/mode", data=blank, headers=headers)
    assert removed.status_code == 200
    settings = (await server_with_charger.services.modes.effective(CP)).settings
    assert isinstance(settings, RegulationSettings) and settings.peak_windows == ()
