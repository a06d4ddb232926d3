"""The per-connection frame rate and the sampled-values cap, without sockets."""

from __future__ import annotations

import pytest

from ampnexus.ocpp.errors import CallError
from ampnexus.ocpp.limits import FrameRateLimit, check_sampled_values


def test_a_burst_passes_then_frames_wait_their_turn() -> None:
    rate = FrameRateLimit(rate=10, burst=3, now=0.0)
    assert [rate.delay(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert rate.delay(0.0) == pytest.approx(0.1)
    assert rate.delay(0.0) == pytest.approx(0.2)  # each waits behind the one before
    assert rate.throttled_for(0.5) == 0.5


def test_a_pause_refills_the_bucket_and_ends_the_throttling() -> None:
    rate = FrameRateLimit(rate=10, burst=3, now=0.0)
    for _ in range(5):
        rate.delay(0.0)
    assert rate.throttled_for(1.0) == 1.0
    assert rate.delay(1.0) == 0.0  # the debt of 0.2 s is paid and a token earned
    assert rate.throttled_for(1.0) == 0.0
    assert [rate.delay(10.0) for _ in range(4)][-1] > 0  # never more than the burst at once


def test_a_charger_at_its_rate_is_never_throttled() -> None:
    rate = FrameRateLimit(rate=10, burst=2, now=0.0)
    assert all(rate.delay(n * 0.1) == 0.0 for n in range(100))


def readings(*counts: int) -> list[dict[str, object]]:
    return [
        {"timestamp": "2025-01-01T00:00:00Z", "sampledValue": [{"value": "1"}] * n} for n in counts
    ]


@pytest.mark.parametrize(
    ("action", "field"), [("MeterValues", "meterValue"), ("StopTransaction", "transactionData")]
)
def test_sampled_values_are_counted_over_all_readings(action: str, field: str) -> None:
    check_sampled_values(action, {field: readings(5, 5)}, limit=10)
    with pytest.raises(CallError) as refused:
        check_sampled_values(action, {field: readings(5, 5, 1)}, limit=10)
    assert refused.value.code == "OccurenceConstraintViolation"
    assert refused.value.description == (
        f"{field} carries 11 sampled values; this CSMS takes at most 10 per {action}"
    )


def test_other_actions_and_a_stop_without_data_pass() -> None:
    check_sampled_values("StopTransaction", {"transactionId": 1}, limit=1)
    check_sampled_values("DataTransfer", {"meterValue": readings(5)}, limit=1)
