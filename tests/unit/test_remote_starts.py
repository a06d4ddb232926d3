"""The matcher of remote starts: a StartTransaction with the tag (and connector, if one was
given) of a RemoteStartTransaction sent to the same charger within 5 minutes was started
remotely; each remote start matches one session at most."""

from __future__ import annotations

from datetime import timedelta

from ampnexus.services.remote_starts import REMOTE_START_WINDOW, RemoteStarts
from tests.fakes.clock import FakeClock


def test_a_start_with_the_same_tag_and_connector_within_the_window_matches() -> None:
    clock = FakeClock()
    starts = RemoteStarts(clock)
    starts.sent("CP-1", "CARD-1", 2)
    clock.advance(REMOTE_START_WINDOW - timedelta(seconds=1))
    assert starts.claim("CP-1", 2, "card-1")  # id tags compare case-insensitively
    assert not starts.claim("CP-1", 2, "CARD-1")  # used up: the next start is local
    assert starts.pending("CP-1") == 0


def test_after_the_window_a_start_is_local() -> None:
    clock = FakeClock()
    starts = RemoteStarts(clock)
    starts.sent("CP-1", "CARD-1", 1)
    clock.advance(REMOTE_START_WINDOW + timedelta(seconds=1))
    assert not starts.claim("CP-1", 1, "CARD-1")


def test_another_tag_connector_or_charger_does_not_match() -> None:
    clock = FakeClock()
    starts = RemoteStarts(clock)
    starts.sent("CP-1", "CARD-1", 1)
    assert not starts.claim("CP-1", 1, "CARD-2")
    assert not starts.claim("CP-1", 2, "CARD-1")
    assert not starts.claim("CP-2", 1, "CARD-1")
    assert starts.claim("CP-1", 1, "CARD-1")  # still there after the misses


def test_a_remote_start_without_a_connector_matches_any_connector() -> None:
    starts = RemoteStarts(FakeClock())
    starts.sent("CP-1", "CARD-1", None)
    assert starts.claim("CP-1", 3, "CARD-1")


def test_a_withdrawn_remote_start_matches_nothing() -> None:
    starts = RemoteStarts(FakeClock())
    refused = starts.sent("CP-1", "CARD-1", 1)
    kept = starts.sent("CP-1", "CARD-1", 2)
    starts.withdraw("CP-1", refused)
    assert not starts.claim("CP-1", 1, "CARD-1")
    assert starts.claim("CP-1", 2, "CARD-1")
    starts.withdraw("CP-1", kept)  # already used: nothing happens
    assert starts.pending("CP-1") == 0


def test_two_remote_starts_with_one_tag_match_two_sessions() -> None:
    clock = FakeClock()
    starts = RemoteStarts(clock)
    starts.sent("CP-1", "FLEET", None)
    clock.advance(seconds=10)
    starts.sent("CP-1", "FLEET", None)
    assert starts.claim("CP-1", 1, "FLEET")
    assert starts.claim("CP-1", 2, "FLEET")
    assert not starts.claim("CP-1", 1, "FLEET")
