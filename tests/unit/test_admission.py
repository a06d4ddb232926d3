"""Admission throttling with explicit addresses and a hand-driven clock, and the bounded
password-check thread. (Over real sockets: tests/integration/test_ocpp_limits.py.)"""

from __future__ import annotations

import asyncio
import base64
import logging

import pytest

from ampnexus.services.admission import AdmissionThrottle, Refusal, address_key
from ampnexus.services.secrets import PasswordChecksBusy, PasswordHasher, hash_password

GUESSER, CHARGER_SITE = "203.0.113.7", "198.51.100.20"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def throttle(
    clock: Clock, per_charger: int = 3, per_address: int = 5, capacity: int = 4096
) -> AdmissionThrottle:
    return AdmissionThrottle(per_charger, per_address, window=60.0, capacity=capacity, now=clock)


def fail(gate: AdmissionThrottle, cp: str, address: str, times: int, wrong: bool = True) -> None:
    for _ in range(times):
        assert gate.refusal(cp, address) is None
        gate.failed(cp, address, wrong_password=wrong)


def test_wrong_passwords_refuse_that_id_from_that_address_only() -> None:
    clock = Clock()
    gate = throttle(clock)
    fail(gate, "CP-1", GUESSER, 3)
    assert gate.refusal("CP-1", GUESSER) == Refusal(retry_after=60)
    assert gate.refusal("CP-1", CHARGER_SITE) is None  # the real CP-1 elsewhere gets in
    assert gate.refusal("CP-2", GUESSER) is None  # the pair, not the address, is locked


def test_the_window_slides() -> None:
    clock = Clock()
    gate = throttle(clock)
    fail(gate, "CP-1", GUESSER, 2)
    clock.now += 40
    fail(gate, "CP-1", GUESSER, 1)
    assert gate.refusal("CP-1", GUESSER) == Refusal(retry_after=20)  # the oldest expires then
    clock.now += 20
    assert gate.refusal("CP-1", GUESSER) is None  # only the failure at +40 s is left
    fail(gate, "CP-1", GUESSER, 2)
    assert gate.refusal("CP-1", GUESSER) == Refusal(retry_after=40)


def test_every_failure_counts_for_the_address_unknown_ids_included() -> None:
    clock = Clock()
    gate = throttle(clock)
    for number in range(5):
        fail(gate, f"GUESS-{number}", GUESSER, 1, wrong=False)
    refusal = gate.refusal("CP-1", GUESSER)
    assert refusal is not None and refusal.retry_after == 60 and not refusal.busy
    assert gate.refusal("CP-1", CHARGER_SITE) is None


def test_unknown_ids_do_not_lock_a_pair() -> None:
    clock = Clock()
    gate = throttle(clock, per_address=100)
    fail(gate, "CP-1", GUESSER, 10, wrong=False)
    assert gate.refusal("CP-1", GUESSER) is None


def test_admission_forgets_the_pairs_failures() -> None:
    clock = Clock()
    gate = throttle(clock, per_address=100)
    fail(gate, "CP-1", CHARGER_SITE, 2)  # typos
    gate.admitted("CP-1", CHARGER_SITE)
    fail(gate, "CP-1", CHARGER_SITE, 2)
    assert gate.refusal("CP-1", CHARGER_SITE) is None


def test_memory_is_bounded_however_many_ids_and_addresses_are_rotated() -> None:
    clock = Clock()
    gate = throttle(clock, capacity=100)
    for number in range(10_000):
        gate.failed(
            f"CP-{number}", f"10.{number // 65536}.{number // 256 % 256}.{number % 256}", True
        )
    assert gate.tracked() == 200  # 100 pairs + 100 addresses, the newest
    fail(gate, "CP-1", GUESSER, 3)
    assert gate.refusal("CP-1", GUESSER) is not None  # the newest are the ones kept


def test_ipv6_counts_per_64_network_and_mapped_ipv4_as_ipv4() -> None:
    assert (
        address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    )
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:203.0.113.7") == "203.0.113.7"
    clock = Clock()
    gate = throttle(clock)
    for host in range(3):
        fail(gate, "CP-1", f"2001:db8::{host + 1}", 1)
    assert gate.refusal("CP-1", "2001:db8::99") is not None


def test_refusals_are_logged_once_per_burst_then_summarized_once_per_window(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    gate = throttle(clock, per_address=100)
    fail(gate, "CP-1", GUESSER, 3)
    with caplog.at_level(logging.WARNING, logger="ampnexus.services.admission"):
        for _ in range(57):
            assert gate.refusal("CP-1", GUESSER) is not None
            clock.now += 0.5
        clock.now += 31.5  # a window after the first refusal
        fail(gate, "CP-1", GUESSER, 3)  # the lock had expired; a new burst of failures
        assert gate.refusal("CP-1", GUESSER) is not None
    assert [r.getMessage() for r in caplog.records] == [
        f"refusing upgrade attempts for CP-1 from {GUESSER} for 60 s: 3 failed within 60 s",
        f"refused 57 upgrade attempts for CP-1 from {GUESSER} in the last 60 s",
    ]


def test_busy_refusals_are_logged_once_per_window(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    gate = throttle(clock)
    with caplog.at_level(logging.WARNING, logger="ampnexus.services.admission"):
        for _ in range(100):
            assert gate.busy() == Refusal(retry_after=1, busy=True)
    assert len(caplog.records) == 1


# --- the password-check thread -------------------------------------------------------------------
async def test_checks_beyond_the_queue_are_refused_without_hashing() -> None:
    stored = hash_password("the-right-password-1")
    hasher = PasswordHasher(threads=1, queue=2)
    try:
        results = await asyncio.gather(
            *(hasher.verify("a-wrong-password-123", stored) for _ in range(10)),
            return_exceptions=True,
        )
        assert results.count(False) == 3  # one running, two queued
        assert sum(isinstance(r, PasswordChecksBusy) for r in results) == 7
        # the slots are free again once the checks are done
        assert await hasher.verify("the-right-password-1", stored) is True
    finally:
        hasher.close()


async def test_a_caller_that_gives_up_does_not_free_a_slot_still_in_use() -> None:
    # p=8: eight times the usual work (~0.1-0.5 s), the same memory; nothing matches it
    slow = "scrypt$8192$8$8$" + base64.b64encode(b"s" * 16).decode() + "$AAAA"
    hasher = PasswordHasher(threads=1, queue=0)
    try:
        first = asyncio.ensure_future(hasher.verify("a-wrong-password-123", slow))
        await asyncio.sleep(0.05)  # running on the thread by now
        first.cancel()
        with pytest.raises(PasswordChecksBusy):
            await hasher.verify("a-wrong-password-123", slow)
        # operators' hashing waits its turn instead of being refused
        assert (await hasher.hash("a-new-password-12345")).startswith("scrypt$")
    finally:
        hasher.close()
