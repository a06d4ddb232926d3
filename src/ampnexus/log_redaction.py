"""No secret in any log line, at any level.

The `websockets` library logs every request header at DEBUG, `Authorization: Basic ...` (a
charger's password in Base64) included, and every frame, a ChangeConfiguration of the
AuthorizationKey (a charger's new password) included. Redaction happens where records are
made, not in one handler's filter, so it holds for every handler and logger (pytest's
capture, a handler added later, a library's child logger). Debug logs stay useful: only the
secret itself is replaced.
"""

from __future__ import annotations

import logging
import re
from typing import Any

REDACTED = "[redacted]"

_SECRET = re.compile(
    # A credential after its scheme: "Basic <base64>", "Bearer <API key>", in a header line
    # or in a repr of the headers. Eight characters at least, so "Basic realm=" stays.
    r"(?P<scheme>(?i:\b(?:basic|bearer)\s+))[A-Za-z0-9._~+/-]{8,}=*"
    # OCPP 1.6: the value of the AuthorizationKey configuration key is the charger's
    # password. A logged frame may be cut short anywhere, so all of it after the key goes.
    r"|(?P<key>AuthorizationKey).*",
    re.DOTALL,
)


def redact_secrets_in_logs() -> None:
    """Redact every log record made from now on in this process; calling it again is a no-op."""
    make_record = logging.getLogRecordFactory()
    if getattr(make_record, "redacts_secrets", False):
        return

    def make_redacted_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        _redact(record)
        return record

    make_redacted_record.redacts_secrets = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(make_redacted_record)


def redact(text: str) -> str:
    return _SECRET.sub(_replacement, text)


def _replacement(match: re.Match[str]) -> str:
    if match["key"]:
        return f"{match['key']} {REDACTED}"
    return f"{match['scheme']}{REDACTED}"


def _redact(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a bad logging call: the handler reports it as usual
        return
    redacted = redact(message)
    if redacted != message:
        record.msg, record.args = redacted, None
    if record.exc_info and not record.exc_text:
        exc_text = logging.Formatter().formatException(record.exc_info)
        if (redacted_exc := redact(exc_text)) != exc_text:
            record.exc_text = redacted_exc  # formatters reuse it instead of formatting anew
