"""A reservation's own rules: who may use it, which connectors it covers, when it expires."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from ampnexus.domain.reservation import Reservation, ReservationState

NOW = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)


def reservation(
    connector_id: int = 1,
    parent: str | None = "GROUP",
    state: ReservationState = ReservationState.ACTIVE,
) -> Reservation:
    held = Reservation(1, "CP-1", 1, "Card-1", None, NOW + timedelta(minutes=30), state, NOW)
    return replace(held, connector_id=connector_id, parent_id_tag=parent)


def test_the_reserved_tag_and_its_group_may_use_it_and_no_one_else() -> None:
    held = reservation()
    assert held.admits("Card-1", None)
    assert held.admits("CARD-1", None)  # id tags compare case-insensitively
    assert held.admits("Card-2", "group")
    assert not held.admits("Card-2", "OTHER")
    assert not held.admits("Card-2", None)
    # A parent value is a group name, not a tag: presenting it is not being in the group.
    assert not held.admits("GROUP", None)


def test_without_a_group_only_the_reserved_tag_may_use_it() -> None:
    held = reservation(parent=None)
    assert held.admits("card-1", None)
    assert not held.admits("Card-2", None)
    assert not held.admits("Card-2", "GROUP")


def test_connector_0_covers_every_connector_and_others_only_their_own() -> None:
    assert reservation(0).covers(1) and reservation(0).covers(2)
    assert reservation(2).covers(2) and not reservation(2).covers(1)


def test_an_active_reservation_past_its_expiry_is_expired_and_an_ended_one_stays_as_it_ended() -> (
    None
):
    held = reservation()
    assert held.state_at(NOW) is ReservationState.ACTIVE
    assert held.state_at(held.expires_at) is ReservationState.EXPIRED
    used = reservation(state=ReservationState.USED)
    assert used.state_at(NOW + timedelta(days=1)) is ReservationState.USED
