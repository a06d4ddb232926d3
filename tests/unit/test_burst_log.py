"""BurstLog: the first warning of a burst at once, then one summary per window per key."""

from __future__ import annotations

import logging

import pytest

from ampnexus.ocpp.burst_log import BurstLog


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Logged:
    """What was logged so far (caplog.messages is a fresh list on every read)."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self._caplog = caplog

    def __getitem__(self, index: int) -> str:
        return self._caplog.messages[index]

    def __eq__(self, other: object) -> bool:
        return self._caplog.messages == other

    __hash__ = None  # type: ignore[assignment]


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> Logged:
    caplog.set_level(logging.WARNING, logger="burst")
    return Logged(caplog)


def test_a_burst_is_one_line_then_one_summary_per_window(logged: Logged) -> None:
    clock = Clock()
    burst = BurstLog(logging.getLogger("burst"), window=60, clock=clock)
    for second in range(100):
        clock.now = second * 0.5
        burst.warning("CP-1", "%s sent a malformed frame", "CP-1")
    assert logged == ["CP-1 sent a malformed frame"]
    clock.now = 61
    burst.warning("CP-1", "%s sent a malformed frame", "CP-1")
    assert logged[1] == "CP-1 sent a malformed frame (and 99 more like it in the last 61 s)"
    clock.now = 200  # a quiet window: the next one is a plain first line again
    burst.warning("CP-1", "%s sent a malformed frame", "CP-1")
    assert logged[2] == "CP-1 sent a malformed frame"


def test_keys_are_independent_and_bounded(logged: Logged) -> None:
    burst = BurstLog(logging.getLogger("burst"), capacity=3, clock=Clock())
    for key in ("a", "b", "a", "c", "d", "a"):
        burst.warning(key, "from %s", key)
    assert logged == ["from a", "from b", "from c", "from d"]
    assert burst.tracked() == 3
