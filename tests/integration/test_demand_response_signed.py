"""Signed OpenADR messages against a real VTN (openleadr's OpenADRServer over HTTPS, signing
its own messages and checking the VEN's signatures by the fingerprint it was given): a
signed program registers and acts on an event; a program holding a wrong VTN fingerprint
takes nothing from the VTN and says why; bad signing files are refused with a 422.

Certificates come from the tests' own CA (`tests/support/pki.py`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from openleadr import OpenADRServer, objects
from openleadr.service import VTNService
from openleadr.utils import certificate_fingerprint

from tests.integration.test_demand_response import (  # noqa: F401 (the site fixture)
    EVENT_S,
    SITE,
    free_port,
    next_slot,
    site,
)
from tests.integration.test_smart_charging import eventually
from tests.support.pki import Authority, Issued

pytestmark = [
    pytest.mark.settings(replan_interval=3600.0),
    pytest.mark.usefixtures("site"),  # the charging site the programs cover
    pytest.mark.filterwarnings("ignore:It is recommended to use web.AppKey"),
]

VEN_ID = "ven-signed"


@dataclass
class Pki:
    authority: Authority
    vtn: Issued  # the VTN's HTTPS and signing certificate
    ven: Issued  # the VEN's

    def fingerprint(self, issued: Issued) -> str:
        return str(certificate_fingerprint(issued.cert.read_text()))


@dataclass
class SignedVtn:
    server: OpenADRServer
    url: str
    looked_up: list[str] = field(default_factory=list)  # ven ids whose fingerprint was asked
    registered_with: list[str | None] = field(default_factory=list)  # HTTPS fingerprints
    opts: dict[str, str] = field(default_factory=dict)

    def add_level(self, level: int) -> str:
        interval = objects.Interval(
            dtstart=next_slot(), duration=timedelta(minutes=30), signal_payload=level
        )
        return str(
            self.server.add_event(VEN_ID, "SIMPLE", "level", [interval], callback=self._opted)
        )

    def _opted(self, ven_id: str, event_id: str, opt_type: str) -> None:
        self.opts[event_id] = opt_type


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    authority = Authority(tmp_path, "oadr-ca")
    return Pki(authority, authority.server("vtn"), authority.client("ven"))


@pytest.fixture
async def vtn(pki: Pki) -> AsyncIterator[SignedVtn]:
    """HTTPS with client certificates; its messages signed; the VEN's checked against the
    fingerprint delivered to it outside OpenADR (`fingerprint_lookup`)."""
    port = free_port()
    ven_fingerprint = pki.fingerprint(pki.ven)
    looked_up: list[str] = []

    def lookup(ven_id: str) -> str | None:
        looked_up.append(ven_id)
        return ven_fingerprint if ven_id == VEN_ID else None

    server = OpenADRServer(
        vtn_id="SIGNED-VTN",
        cert=str(pki.vtn.cert),
        key=str(pki.vtn.key),
        fingerprint_lookup=lookup,
        show_fingerprint=False,
        http_port=port,
        http_host="127.0.0.1",
        http_cert=str(pki.vtn.cert),
        http_key=str(pki.vtn.key),
        http_ca_file=str(pki.authority.cert),
        requested_poll_freq=timedelta(seconds=30),
    )
    found = SignedVtn(server, f"https://127.0.0.1:{port}/OpenADR2/Simple/2.0b", looked_up)

    async def register(info: dict[str, Any]) -> tuple[str, str]:
        found.registered_with.append(info.get("fingerprint"))
        return VEN_ID, f"reg-{len(found.registered_with)}"

    server.add_handler("on_create_party_registration", register)
    await server.run()
    try:
        yield found
    finally:
        await server.stop()
        with contextlib.suppress(AttributeError):  # openleadr keeps it on the class
            del VTNService.fingerprint_lookup


def signing(pki: Pki, vtn_fingerprint: str) -> dict[str, str]:
    return {
        "cert_file": str(pki.ven.cert),
        "key_file": str(pki.ven.key),
        "ca_file": str(pki.authority.cert),
        "vtn_fingerprint": vtn_fingerprint,
    }


async def create(api: httpx.AsyncClient, vtn: SignedVtn, **body: Any) -> dict[str, Any]:
    program = {
        "id": "signed",
        "vtn_url": vtn.url,
        "ven_name": "ampnexus-signed",
        "site_ids": [SITE],
        "poll_interval_s": 1,
        **body,
    }
    created = await api.post("/demand-response/programs", json=program)
    assert created.status_code == 201, created.text
    return dict(created.json())


async def test_a_signed_program_registers_and_acts_on_an_event(
    api: httpx.AsyncClient, vtn: SignedVtn, pki: Pki
) -> None:
    await create(api, vtn, **signing(pki, pki.fingerprint(pki.vtn).lower()))

    async def registered() -> dict[str, Any] | None:
        shown = (await api.get("/demand-response/programs/signed")).json()
        return shown if shown["status"]["registered"] else None

    shown = await eventually(registered, within=EVENT_S)
    assert shown["vtn_fingerprint"] == pki.fingerprint(pki.vtn)  # kept as OpenADR spells it
    assert (shown["cert_file"], shown["key_file"]) == (str(pki.ven.cert), str(pki.ven.key))
    assert "PRIVATE KEY" not in (await api.get("/demand-response/programs")).text
    # The VTN knew the VEN by its certificate: over HTTPS and on each signed message.
    assert vtn.registered_with[-1] == pki.fingerprint(pki.ven)
    event_id = vtn.add_level(2)

    async def answered() -> str | None:
        return vtn.opts.get(event_id)

    assert await eventually(answered, within=EVENT_S) == "optIn"
    assert VEN_ID in vtn.looked_up  # the VTN checked the signature of the VEN's answer
    events = (await api.get("/demand-response/events")).json()["items"]
    assert [(e["event_id"], e["opt"]) for e in events] == [(event_id, "optIn")]


async def test_a_wrong_vtn_fingerprint_takes_nothing_from_the_vtn(
    api: httpx.AsyncClient, vtn: SignedVtn, pki: Pki
) -> None:
    wrong = pki.fingerprint(pki.ven)  # a certificate of the CA's, but not the VTN's
    await create(api, vtn, **signing(pki, wrong))
    event_id = vtn.add_level(3)

    async def refused() -> str | None:
        status = (await api.get("/demand-response/programs/signed")).json()["status"]
        error = status["last_error"] or ""
        return error if "fingerprint" in error else None

    error = await eventually(refused, within=EVENT_S)
    assert "signature check" in error
    await asyncio.sleep(3)  # a few polls more: still nothing taken
    shown = (await api.get("/demand-response/programs/signed")).json()
    assert not shown["status"]["registered"]
    assert (await api.get("/demand-response/events")).json()["items"] == []
    assert event_id not in vtn.opts


async def test_signing_files_are_checked(
    api: httpx.AsyncClient, vtn: SignedVtn, pki: Pki, tmp_path: Path
) -> None:
    good = signing(pki, pki.fingerprint(pki.vtn))
    other = pki.authority.client("other")
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello")
    cases: list[tuple[dict[str, Any], str]] = [
        ({**good, "cert_file": str(tmp_path / "missing.crt")}, "cannot be read"),
        ({**good, "cert_file": str(not_pem)}, "holds no PEM certificate"),
        ({**good, "key_file": str(not_pem)}, "holds no PEM private key"),
        ({**good, "key_file": str(other.key)}, "not the private key of cert_file"),
        ({**good, "ca_file": str(pki.ven.key)}, "ca_file"),
        ({"cert_file": good["cert_file"]}, "give both"),
        ({**good, "ca_file": None}, "ca_file"),
        ({**good, "vtn_fingerprint": "AA:BB"}, "vtn_fingerprint"),
    ]
    for body, message in cases:
        program = {"id": "p", "vtn_url": vtn.url, "ven_name": "v", "site_ids": [SITE], **body}
        refused = await api.post("/demand-response/programs", json=program)
        assert refused.status_code == 422, (body, refused.text)
        assert message in refused.text, (body, refused.text)
        assert "BEGIN" not in refused.text  # no file's contents in the answer
    created = await create(api, vtn, poll_interval_s=3600)
    assert created["cert_file"] is None
    patched = await api.patch("/demand-response/programs/signed", json={"key_file": str(other.key)})
    assert patched.status_code == 422, patched.text
    patched = await api.patch("/demand-response/programs/signed", json=good)
    assert patched.status_code == 200, patched.text
    assert patched.json()["ca_file"] == good["ca_file"]
    cleared = {name: None for name in good}
    patched = await api.patch("/demand-response/programs/signed", json=cleared)
    assert patched.status_code == 200, patched.text
    assert patched.json()["cert_file"] is None
