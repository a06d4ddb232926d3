"""ChargePointService: registration rules, admission of connections, boots, status and
presence, against an in-memory store and a fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ampnexus.domain.charge_point import BootInfo, Connector, RegistrationStatus
from ampnexus.domain.errors import Conflict, Invalid, NotFound
from ampnexus.domain.events import ChargerBooted, ConnectorStatusChanged
from ampnexus.services.charge_points import (
    Admission,
    ChargePointService,
    Transport,
    UnknownChargers,
)
from ampnexus.services.presence import Presence
from tests.fakes import Fakes

PASSWORD = "sixteen-chars-ok"


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()


@pytest.fixture
async def chargers(fakes: Fakes) -> AsyncIterator[ChargePointService]:
    service = ChargePointService(
        fakes.charge_points, Presence(), fakes.clock, 300, events=fakes.events
    )
    yield service
    service.close()


# --- registration ----------------------------------------------------------------------------
async def test_a_password_alone_means_security_profile_1(
    fakes: Fakes, chargers: ChargePointService
) -> None:
    view = await chargers.register("CP-1", password=PASSWORD, security_profile=None)
    stored = view.charge_point
    assert (stored.security_profile, stored.created_at) == (1, fakes.clock.now())
    assert stored.password_hash and PASSWORD not in stored.password_hash
    assert not view.connected


@pytest.mark.parametrize(
    ("charge_point_id", "password", "profile"),
    [
        ("CP/1", PASSWORD, None),  # travels in the URL path
        ("CP-1", None, None),  # neither said
        ("CP-1", PASSWORD, 0),  # profile 0 takes no password
        ("CP-1", None, 1),  # profile 1 needs one
        ("CP-1", "too-short", 1),
        ("CP-1", None, 2),  # TLS not served (max_security_profile 1)
        ("CP-1", None, 4),
    ],
)
async def test_registrations_that_cannot_work_are_refused(
    fakes: Fakes,
    chargers: ChargePointService,
    charge_point_id: str,
    password: str | None,
    profile: int | None,
) -> None:
    with pytest.raises(Invalid):
        await chargers.register(charge_point_id, password=password, security_profile=profile)
    assert (await fakes.charge_points.list(10, 0)).total == 0


async def test_an_id_is_registered_once(chargers: ChargePointService) -> None:
    await chargers.register("CP-1", password=None, security_profile=0)
    with pytest.raises(Conflict):
        await chargers.register("CP-1", password=None, security_profile=0)


async def test_moving_to_certificates_drops_the_password(
    fakes: Fakes, chargers: ChargePointService
) -> None:
    chargers.max_security_profile = 3
    await chargers.register("CP-1", password=PASSWORD, security_profile=1)
    view = await chargers.update("CP-1", {"security_profile": 3})
    assert view.charge_point.password_hash is None
    with pytest.raises(Invalid, match="needs a password"):
        await chargers.update("CP-1", {"security_profile": 2})  # the old one is gone for good


async def test_listeners_hear_of_registration_changes_only(chargers: ChargePointService) -> None:
    heard: list[tuple[str, RegistrationStatus | None]] = []

    async def listener(charge_point_id: str, status: RegistrationStatus | None) -> None:
        heard.append((charge_point_id, status))

    chargers.on_registration_changed(listener)
    await chargers.register("CP-1", password=None, security_profile=0)
    await chargers.update("CP-1", {"registration_status": "Accepted"})  # unchanged
    await chargers.update("CP-1", {"description": "bay 4"})
    await chargers.update("CP-1", {"registration_status": "Rejected"})
    await chargers.delete("CP-1")
    assert heard == [("CP-1", RegistrationStatus.REJECTED), ("CP-1", None)]
    with pytest.raises(NotFound):
        await chargers.delete("CP-1")


# --- admission -------------------------------------------------------------------------------
async def test_unknown_chargers_are_refused_or_parked_as_pending(
    fakes: Fakes, chargers: ChargePointService
) -> None:
    assert await chargers.admit("NEW-1", None) is Admission.UNKNOWN
    assert await fakes.charge_points.get("NEW-1") is None
    chargers.unknown_chargers = UnknownChargers.PENDING
    assert await chargers.admit("NEW-1", None) is Admission.ADMITTED
    stored = await fakes.charge_points.get("NEW-1")
    assert stored is not None and stored.registration_status is RegistrationStatus.PENDING
    assert await chargers.admit("NEW-1", None) is Admission.ADMITTED  # now known, profile 0
    assert await chargers.admit("bad/id", None) is Admission.UNKNOWN  # never stored


async def test_passwords_and_transports_are_checked_against_the_profile(
    chargers: ChargePointService,
) -> None:
    chargers.max_security_profile = 3
    await chargers.register("CP-1", password=PASSWORD, security_profile=1)
    await chargers.register("CP-2", password=PASSWORD, security_profile=2)
    await chargers.register("CP-3", password=None, security_profile=3)
    assert await chargers.admit("CP-1", PASSWORD) is Admission.ADMITTED
    assert await chargers.admit("CP-1", PASSWORD) is Admission.ADMITTED  # from the cache
    assert await chargers.admit("CP-1", "wrong-password-xx") is Admission.UNAUTHORIZED
    assert await chargers.admit("CP-1", None) is Admission.UNAUTHORIZED
    assert await chargers.admit("CP-1", PASSWORD, username="CP-2") is Admission.UNAUTHORIZED
    assert await chargers.admit("CP-2", PASSWORD) is Admission.NEEDS_TLS
    assert await chargers.admit("CP-2", PASSWORD, Transport(tls=True)) is Admission.ADMITTED
    tls_as_other = Transport(tls=True, client_cn="CP-1")
    assert await chargers.admit("CP-3", None, tls_as_other) is Admission.NEEDS_CERTIFICATE
    tls_as_self = Transport(tls=True, client_cn="CP-3")
    assert await chargers.admit("CP-3", None, tls_as_self) is Admission.ADMITTED


async def test_a_changed_password_is_not_served_from_the_cache(
    chargers: ChargePointService,
) -> None:
    await chargers.register("CP-1", password=PASSWORD, security_profile=1)
    assert await chargers.admit("CP-1", PASSWORD) is Admission.ADMITTED
    await chargers.update("CP-1", {"password": "another-password-1"})
    assert await chargers.admit("CP-1", PASSWORD) is Admission.UNAUTHORIZED
    assert await chargers.admit("CP-1", "another-password-1") is Admission.ADMITTED


# --- what chargers report --------------------------------------------------------------------
async def test_a_boot_is_recorded_and_answered_with_the_registration_status(
    fakes: Fakes, chargers: ChargePointService
) -> None:
    await chargers.register(
        "CP-1",
        password=None,
        security_profile=0,
        registration_status=RegistrationStatus.PENDING,
    )
    fakes.clock.advance(minutes=5)
    status = await chargers.boot("CP-1", BootInfo("Acme", "Volt 22", firmware_version="1.2"))
    assert status is RegistrationStatus.PENDING
    stored = (await chargers.get("CP-1")).charge_point
    assert (stored.vendor, stored.firmware_version) == ("Acme", "1.2")
    assert stored.last_boot == stored.last_seen == fakes.clock.now()
    assert fakes.events.of(ChargerBooted) == [ChargerBooted("CP-1", fakes.clock.now())]


async def test_a_charger_deleted_while_connected_is_rejected_at_boot(
    fakes: Fakes, chargers: ChargePointService
) -> None:
    assert await chargers.boot("GONE", BootInfo("Acme", "X")) is RegistrationStatus.REJECTED
    assert fakes.events.of(ChargerBooted) == []


async def test_status_sets_the_connector_state_and_grows_the_history(
    fakes: Fakes, chargers: ChargePointService
) -> None:
    await chargers.register("CP-1", password=None, security_profile=0)
    await chargers.status_notification("CP-1", Connector(1, "Preparing", "NoError"))
    fakes.clock.advance(seconds=20)
    await chargers.status_notification("CP-1", Connector(1, "Charging", "NoError"))
    await chargers.status_notification("CP-1", Connector(2, "Available", "NoError"))
    stored = (await chargers.get("CP-1")).charge_point
    assert [(c.connector_id, c.status) for c in stored.connectors] == [
        (1, "Charging"),
        (2, "Available"),
    ]
    history = await chargers.status_history("CP-1", 2, 0)
    assert history.total == 3
    assert [r.connector.status for r in history.items] == ["Available", "Charging"]
    assert history.items[0].received_at == fakes.clock.now()
    assert [e.status for e in fakes.events.of(ConnectorStatusChanged)] == [
        "Preparing",
        "Charging",
        "Available",
    ]
    with pytest.raises(NotFound):
        await chargers.status_history("GHOST", 10, 0)


async def test_presence_is_live_and_flushed_in_batches(
    fakes: Fakes, chargers: ChargePointService
) -> None:
    await chargers.register("CP-1", password=None, security_profile=0)
    connected_at = fakes.clock.now()
    chargers.connected("CP-1")
    fakes.clock.advance(seconds=30)
    chargers.seen("CP-1")
    view = await chargers.get("CP-1")
    assert view.connected and view.charge_point.last_seen == fakes.clock.now()
    before_flush = await fakes.charge_points.get("CP-1")
    assert before_flush is not None and before_flush.last_seen is None  # no write per frame
    await chargers.flush_last_seen()
    stored = await fakes.charge_points.get("CP-1")
    assert stored is not None and stored.last_seen == fakes.clock.now() != connected_at
    chargers.disconnected("CP-1")
    assert not chargers.is_connected("CP-1")
    assert (await chargers.get("CP-1")).charge_point.last_seen == fakes.clock.now()


async def test_a_flush_writes_only_what_changed_since_the_last(
    fakes: Fakes, chargers: ChargePointService
) -> None:
    await chargers.register("CP-1", password=None, security_profile=0)
    chargers.seen("CP-1")
    await chargers.flush_last_seen()
    flushed = fakes.clock.now()
    # Stored later by someone else: a flush with nothing new must not overwrite it.
    fakes.clock.advance(minutes=1)
    await fakes.charge_points.record_last_seen({"CP-1": fakes.clock.now()})
    await chargers.flush_last_seen()
    stored = await fakes.charge_points.get("CP-1")
    assert stored is not None and stored.last_seen == fakes.clock.now() != flushed


async def test_a_deleted_charger_is_forgotten_by_presence(
    chargers: ChargePointService,
) -> None:
    await chargers.register("CP-1", password=None, security_profile=0)
    chargers.connected("CP-1")
    await chargers.delete("CP-1")
    assert not chargers.is_connected("CP-1")
