"""Pure rules: authorization of id tags, session energy, timestamps, secrets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ampnexus.domain.id_tag import AuthorizationStatus, IdTag, IdTagInfo, authorize
from ampnexus.domain.time import TimeWindow, format_timestamp, parse_timestamp, utc
from ampnexus.domain.transaction import (
    MeterReading,
    SampledValue,
    Transaction,
    energy_wh,
    import_power_w,
    import_register_wh,
)
from ampnexus.services.secrets import (
    api_key_digest,
    hash_password,
    new_api_key,
    verify_password,
)

NOW = datetime(2025, 3, 14, 12, 0, 0, tzinfo=UTC)


# --- authorize ----------------------------------------------------------------------------------
def test_unknown_tag_is_invalid():
    info = authorize(None, NOW)
    assert info == IdTagInfo(AuthorizationStatus.INVALID)
    assert info.expiry_date is None and info.parent_id_tag is None


def test_accepted_tag_is_accepted():
    info = authorize(IdTag("TAG-1"), NOW)
    assert info.status is AuthorizationStatus.ACCEPTED
    assert info.expiry_date is None


@pytest.mark.parametrize(
    "status",
    [AuthorizationStatus.BLOCKED, AuthorizationStatus.EXPIRED, AuthorizationStatus.INVALID],
)
def test_stored_status_is_kept(status: AuthorizationStatus):
    assert authorize(IdTag("TAG-1", status=status), NOW).status is status


def test_blocked_tag_stays_blocked_even_when_expired():
    tag = IdTag("TAG-1", AuthorizationStatus.BLOCKED, expiry_date=NOW - timedelta(days=1))
    assert authorize(tag, NOW).status is AuthorizationStatus.BLOCKED


@pytest.mark.parametrize("ago", [timedelta(days=30), timedelta(seconds=1), timedelta(0)])
def test_accepted_tag_past_expiry_is_expired(ago: timedelta):
    expiry = NOW - ago
    info = authorize(IdTag("TAG-1", expiry_date=expiry), NOW)
    assert info.status is AuthorizationStatus.EXPIRED
    assert info.expiry_date == expiry


@pytest.mark.parametrize("ahead", [timedelta(seconds=1), timedelta(days=365)])
def test_accepted_tag_before_expiry_stays_accepted(ahead: timedelta):
    expiry = NOW + ahead
    info = authorize(IdTag("TAG-1", expiry_date=expiry), NOW)
    assert info.status is AuthorizationStatus.ACCEPTED
    assert info.expiry_date == expiry


def test_expiry_compares_instants_across_offsets():
    # 13:30 at +02:00 is 11:30 UTC: already past at 12:00 UTC.
    expiry = datetime(2025, 3, 14, 13, 30, tzinfo=timezone(timedelta(hours=2)))
    assert authorize(IdTag("TAG-1", expiry_date=expiry), NOW).status is AuthorizationStatus.EXPIRED
    # 13:30 at +01:00 is 12:30 UTC: still ahead.
    expiry = datetime(2025, 3, 14, 13, 30, tzinfo=timezone(timedelta(hours=1)))
    assert authorize(IdTag("TAG-1", expiry_date=expiry), NOW).status is AuthorizationStatus.ACCEPTED


def test_parent_id_tag_is_carried():
    tag = IdTag("TAG-1", parent_id_tag="FLEET-7", expiry_date=NOW + timedelta(days=1))
    info = authorize(tag, NOW)
    assert info.parent_id_tag == "FLEET-7"
    assert info.status is AuthorizationStatus.ACCEPTED
    blocked = authorize(IdTag("TAG-2", AuthorizationStatus.BLOCKED, parent_id_tag="FLEET-7"), NOW)
    assert blocked.parent_id_tag == "FLEET-7"
    assert blocked.status is AuthorizationStatus.BLOCKED


# --- energy -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("start", "stop", "expected"),
    [(1000, 5500, 4500), (0, 0, 0), (0, 1, 1), (123_456_789, 123_456_790, 1)],
)
def test_energy_wh(start: int, stop: int, expected: int):
    assert energy_wh(start, stop) == expected


def test_energy_is_none_until_stopped():
    assert energy_wh(1000, None) is None
    running = Transaction(1, "CP-1", 1, "TAG", meter_start=1000, started_at=NOW)
    assert running.active is True
    assert running.energy_wh is None


@pytest.mark.parametrize(("start", "stop"), [(5000, 100), (1, 0), (2**40, 0)])
def test_energy_is_never_negative(start: int, stop: int):
    assert energy_wh(start, stop) == 0


def test_stopped_transaction_energy():
    done = Transaction(
        1, "CP-1", 1, "TAG", meter_start=1000, started_at=NOW, stopped_at=NOW, meter_stop=3500
    )
    assert done.active is False
    assert done.energy_wh == 2500


# --- time ---------------------------------------------------------------------------------------
def test_format_timestamp_is_utc_with_z():
    assert format_timestamp(NOW) == "2025-03-14T12:00:00.000Z"
    assert format_timestamp(datetime(2025, 3, 14, 12, 0, 0, 123456, tzinfo=UTC)).endswith(
        "12:00:00.123Z"
    )


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (timedelta(hours=2), "2025-03-14T10:00:00.000Z"),
        (timedelta(hours=-5, minutes=-30), "2025-03-14T17:30:00.000Z"),
        (timedelta(hours=5), "2025-03-14T07:00:00.000Z"),
        (timedelta(hours=13), "2025-03-13T23:00:00.000Z"),  # the day changes too
    ],
)
def test_format_timestamp_converts_offsets_to_utc(offset: timedelta, expected: str):
    local = datetime(2025, 3, 14, 12, 0, 0, tzinfo=timezone(offset))
    text = format_timestamp(local)
    assert text == expected
    assert text.endswith("Z") and "+" not in text


def test_format_timestamp_takes_naive_as_utc():
    assert format_timestamp(datetime(2025, 3, 14, 12, 0)) == "2025-03-14T12:00:00.000Z"


def test_parse_timestamp_treats_naive_as_utc():
    parsed = parse_timestamp("2025-03-14T12:00:00")
    assert parsed == NOW
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "text",
    ["2025-03-14T12:00:00Z", "2025-03-14T12:00:00.000Z", "2025-03-14T14:00:00+02:00"],
)
def test_parse_timestamp_gives_utc(text: str):
    parsed = parse_timestamp(text)
    assert parsed == NOW
    assert parsed.tzinfo is not None and parsed.utcoffset() == timedelta(0)
    assert parsed.hour == 12


def test_parse_and_format_round_trip():
    text = "2025-03-14T12:34:56.789Z"
    assert format_timestamp(parse_timestamp(text)) == text


def test_parse_timestamp_rejects_garbage():
    with pytest.raises(ValueError):
        parse_timestamp("yesterday")


def test_utc_keeps_the_instant():
    local = datetime(2025, 3, 14, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    assert utc(local) == local
    assert utc(local).hour == 12


# --- secrets ------------------------------------------------------------------------------------
PASSWORD = "correct-horse-battery-staple"


def test_password_hash_verifies_the_right_password():
    stored = hash_password(PASSWORD)
    assert PASSWORD not in stored
    assert stored.startswith("scrypt$")
    assert verify_password(PASSWORD, stored) is True


@pytest.mark.parametrize(
    "wrong", ["", "correct-horse-battery-stapl", PASSWORD + "!", PASSWORD.upper()]
)
def test_password_hash_refuses_a_wrong_password(wrong: str):
    assert verify_password(wrong, hash_password(PASSWORD)) is False


def test_password_hashes_are_salted():
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first != second
    assert verify_password(PASSWORD, first) and verify_password(PASSWORD, second)


def _change_first_char(text: str) -> str:
    """Another base64 text of the same length and different bytes (the first character's
    six bits all count, unlike the padding bits of the last one)."""
    return ("A" if text[0] != "A" else "B") + text[1:]


def test_tampered_hash_is_refused():
    stored = hash_password(PASSWORD)
    scheme, n, r, p, salt, digest = stored.split("$")
    tampered = [
        "$".join([scheme, n, r, p, salt, _change_first_char(digest)]),
        "$".join([scheme, n, r, p, _change_first_char(salt), digest]),
        "$".join(["bcrypt", n, r, p, salt, digest]),
        "$".join([scheme, "abc", r, p, salt, digest]),  # malformed: False, not an error
        "$".join([scheme, "3", r, p, salt, digest]),  # scrypt refuses n = 3
        "$".join([scheme, str(int(n) * 2), r, p, salt, digest]),  # other cost, other digest
        "$".join([scheme, n, r, p, salt, "@@@"]),
        "$".join([scheme, n, r, p, salt]),
        stored + "$extra",
        "",
        "not a hash",
    ]
    for candidate in tampered:
        assert verify_password(PASSWORD, candidate) is False, candidate


def test_api_key_digest_is_stable_and_distinct():
    key = new_api_key()
    assert key.startswith("anx_")
    digest = api_key_digest(key)
    assert digest == api_key_digest(key)
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert key not in digest
    assert api_key_digest(key + "x") != digest
    assert api_key_digest(new_api_key()) != digest
    # Pinned: stored digests must keep matching across releases.
    assert api_key_digest("anx_test") == (
        "4a46fa7ce99f701fd52667db2d3bc2035705b77d30235d813707d1131a936cd4"
    )


def test_new_api_keys_are_unique():
    assert len({new_api_key() for _ in range(100)}) == 100


# --- timestamps a charger may send ----------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "2025-03-14t12:00:00z",
        "2025-03-14T12:00:00z",
        "2025-03-14t12:00:00Z",
        "2025-03-14t12:00:00.000z",
        "2025-03-14T07:00:00-05:00",
        "2025-03-14t17:30:00+05:30",
        "2025-03-14T12:00:00-00:00",
    ],
)
def test_parse_timestamp_reads_rfc3339_in_either_case_with_any_offset(text: str):
    assert parse_timestamp(text) == NOW


@pytest.mark.parametrize(
    "text",
    [
        "0000-01-01T00:00:00Z",
        "10000-01-01T00:00:00Z",
        "9999-12-31T23:59:59-14:00",  # past the year 9999 in UTC
        "0001-01-01T00:00:00+14:00",  # before the year 1 in UTC
    ],
)
def test_parse_timestamp_refuses_instants_beyond_representable_with_value_error(text: str):
    with pytest.raises(ValueError):
        parse_timestamp(text)


@pytest.mark.parametrize(
    ("shift", "believed"),
    [
        (timedelta(0), True),
        (timedelta(hours=23), True),
        (timedelta(hours=25), False),
        (timedelta(days=-364), True),
        (timedelta(days=-366), False),
    ],
)
def test_time_window_believes_only_instants_near_the_clock(shift: timedelta, believed: bool):
    assert TimeWindow().contains(NOW + shift, NOW) is believed


# --- sampled values: implausible readings are text, never numbers -------------------------------
@pytest.mark.parametrize(
    "value", ["NaN", "nan", "Infinity", "-Infinity", "inf", "1e999", "-1e999", "1.5e12", "ab", ""]
)
def test_implausible_or_non_numeric_sampled_values_have_no_number(value: str):
    sample = SampledValue(value, "Power.Active.Import", unit="W")
    assert sample.number is None
    reading = MeterReading(NOW, (sample, SampledValue(value, unit="Wh")))
    assert import_power_w(reading) is None
    assert import_register_wh(reading) is None


@pytest.mark.parametrize(("value", "number"), [("7400", 7400.0), ("-3.5", -3.5), ("1e12", 1e12)])
def test_plausible_sampled_values_are_numbers(value: str, number: float):
    assert SampledValue(value).number == number
