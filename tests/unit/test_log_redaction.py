"""What log redaction takes out of a line, and what it leaves for the reader."""

from __future__ import annotations

import logging

import pytest

from ampnexus.log_redaction import redact, redact_secrets_in_logs

TOKEN = "Q1AtMTpjb3JyZWN0LWhvcnNlLWJhdHRlcnktc3RhcGxl"  # CP-1:correct-horse-battery-staple


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        (f"< Authorization: Basic {TOKEN}", "< Authorization: Basic [redacted]"),
        (f"< authorization: basic {TOKEN}==", "< authorization: basic [redacted]"),
        (
            "(b'authorization', b'Bearer anx_k3y-V4lue_x')",
            "(b'authorization', b'Bearer [redacted]')",
        ),
        (
            """> TEXT '[2,"1","ChangeConfiguration",{"key":"AuthorizationKey","value":"pw"}]'""",
            """> TEXT '[2,"1","ChangeConfiguration",{"key":"AuthorizationKey [redacted]""",
        ),
    ],
)
def test_secrets_are_replaced(line: str, shown: str) -> None:
    assert redact(line) == shown


@pytest.mark.parametrize(
    "line",
    [
        '> WWW-Authenticate: Basic realm="AmpNexus OCPP", charset="UTF-8"',
        "< GET /ocpp/CP-1 HTTP/1.1",
        "CP-1 connected (ocpp1.6)",
    ],
)
def test_lines_without_secrets_stay_as_they_are(line: str) -> None:
    assert redact(line) == line


def test_records_are_redacted_for_every_handler_and_once_installed_stay_so() -> None:
    redact_secrets_in_logs()
    redact_secrets_in_logs()  # a second call wraps nothing twice
    record = logging.getLogger("websockets.server").makeRecord(
        "websockets.server", logging.DEBUG, __file__, 1, "< %s: %s",
        ("Authorization", f"Basic {TOKEN}"), None,
    )  # fmt: skip
    assert record.getMessage() == "< Authorization: Basic [redacted]"
    factory = logging.getLogRecordFactory()
    redact_secrets_in_logs()
    assert logging.getLogRecordFactory() is factory
