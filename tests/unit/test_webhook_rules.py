"""The rules of webhook delivery that need no server: signatures, backoff, event patterns
and the body a receiver gets."""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime, timedelta

import pytest

from ampnexus.domain.errors import Invalid
from ampnexus.services.feed import EVENT_TYPES, StoredEvent, check_patterns, matches
from ampnexus.services.webhooks import backoff, check_url, envelope, sign
from tests.support.receiver import verify


def test_a_signature_verifies_with_its_secret_only_and_over_the_exact_body() -> None:
    body = b'{"id":"e1","type":"session.started"}'
    now = int(time.time())
    header = sign("whsec_abc", now, body)
    assert header.startswith(f"t={now},v1=")
    assert verify("whsec_abc", header, body)
    assert not verify("whsec_abd", header, body)
    assert not verify("whsec_abc", header, body + b" ")
    assert not verify("whsec_abc", sign("whsec_abc", now - 3600, body), body)  # too old


def test_backoff_doubles_to_an_hour_with_jitter() -> None:
    rng = random.Random(7)
    for attempts, full in ((1, 5), (2, 10), (5, 80), (12, 3600), (40, 3600)):
        for _ in range(50):
            delay = backoff(attempts, rng)
            assert timedelta(seconds=full / 2) <= delay <= timedelta(seconds=full)
    # Enough attempts fit in 24 h to keep trying all day, at most an hour apart.
    assert sum(min(5 * 2 ** (n - 1), 3600) for n in range(1, 40)) > 24 * 3600


def test_patterns_match_types_prefixes_and_everything() -> None:
    assert matches(["session.*"], "session.stopped")
    assert not matches(["session.*"], "sessions.x")
    assert matches(["*"], "plan.updated")
    assert matches(["alert.raised"], "alert.raised")
    assert not matches(["alert.raised"], "alert.raised.more")
    for known in EVENT_TYPES:
        check_patterns([known])
    with pytest.raises(ValueError, match=r"session\.begun"):
        check_patterns(["session.begun"])
    with pytest.raises(ValueError):
        check_patterns(["session"])


def test_urls_must_be_http_with_a_host() -> None:
    check_url("https://example.com/hook", refuse_private=False)
    check_url("http://127.0.0.1:8080/hook", refuse_private=False)
    for bad in ("ftp://example.com/x", "https:///nohost", "example.com/hook", "javascript:x"):
        with pytest.raises(Invalid):
            check_url(bad, refuse_private=False)
    for private in (
        "http://127.0.0.1/x",
        "http://10.1.2.3/x",
        "http://[::1]/x",
        "http://169.254.1.1/",
    ):
        with pytest.raises(Invalid, match="private"):
            check_url(private, refuse_private=True)


def test_the_body_is_the_envelope_with_the_data_as_stored() -> None:
    at = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    data = json.dumps({"transaction_id": 7, "energy_wh": 1500.5})
    body = envelope(StoredEvent(42, "abc123", "session.stopped", at, "S1", data))
    assert json.loads(body) == {
        "id": "abc123",
        "type": "session.stopped",
        "created_at": "2026-12-04T12:00:00+00:00",
        "data": {"transaction_id": 7, "energy_wh": 1500.5},
    }
