"""A charger's energy per session and per day of its site, as CSV."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from ampnexus.api.deps import ServicesDep
from ampnexus.domain.energy import EnergyReport
from ampnexus.domain.errors import Invalid

router = APIRouter(prefix="/charge-points", tags=["energy"])

CSV_COLUMNS = (
    "kind",
    "transaction_id",
    "connector_id",
    "id_tag",
    "started_at",
    "stopped_at",
    "date",
    "energy_kwh",
)
CSV_DESCRIPTION = """
What the charger delivered, as `text/csv` (UTF-8, a header row, comma-separated), one table
whose `kind` column says what a row is:

- `session` rows first, oldest first: every session that ran in the range (also one
  started before `since` or still running), with `transaction_id`, `connector_id`,
  `id_tag`, `started_at` and `stopped_at` (UTC, ISO 8601; `stopped_at` empty while it
  runs) and its whole `energy_kwh` (the register at the stop minus at the start; so far,
  from its latest reading, while it runs). `date` is empty.
- then `day` rows: every calendar day of the range in the site's `time_zone` (UTC for a
  charger on no site), with `date` (YYYY-MM-DD) and the `energy_kwh` that flowed in it
  within the range (the first and last day may be partial). A session's energy is split
  across the days it ran by its energy register readings: between two readings it counts
  as flowing evenly, and with no readings evenly over the session. The other columns are
  empty.

`since` and `until` take an ISO date (a whole site-local day: `until=2025-06-30` includes
June 30th) or an ISO datetime (with an offset, or without one: site-local). Left out:
`until` is now and `since` the start of the same day 12 months before. The range may span
at most 13 months (422 beyond, and when `since` is not before `until`). An `id_tag` that
starts like a spreadsheet formula (`=`, `+`, `-`, `@`) is written with a leading `'`.
"""
When = Annotated[
    str | None,
    Query(max_length=40, description="ISO date or datetime (no offset: site-local)"),
]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@router.get(
    "/{charge_point_id}/energy.csv",
    response_class=Response,
    description=CSV_DESCRIPTION,
    responses={
        200: {"content": {"text/csv": {}}, "description": "The energy, as CSV"},
        404: {"description": "Unknown charge point"},
        422: {"description": "since or until not a date or datetime, or a bad range"},
    },
)
async def energy_csv(
    charge_point_id: Annotated[str, Path(description="The charge point's OCPP identity")],
    services: ServicesDep,
    since: When = None,
    until: When = None,
) -> Response:
    report = await services.energy.report(
        charge_point_id, _moment("since", since), _moment("until", until)
    )
    name = re.sub(r"[^A-Za-z0-9._-]", "_", charge_point_id)
    return Response(
        render_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}-energy.csv"'},
    )


def render_csv(report: EnergyReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for session in report.sessions:
        t = session.transaction
        stopped = "" if t.stopped_at is None else _utc(t.stopped_at)
        writer.writerow(
            (
                "session",
                t.id,
                t.connector_id,
                _cell(t.id_tag),
                _utc(t.started_at),
                stopped,
                "",
                _kwh(session.energy_wh),
            )
        )
    for day, wh in report.days:
        writer.writerow(("day", "", "", "", "", "", day.isoformat(), _kwh(wh)))
    return out.getvalue()


def _moment(name: str, text: str | None) -> date | datetime | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(
            f"{name}: {text!r} is neither an ISO date (2025-06-30) nor an ISO datetime "
            "(2025-06-30T18:00:00+01:00)"
        ) from None


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _kwh(wh: float) -> str:
    return f"{wh / 1000:.3f}"


def _cell(text: str) -> str:
    """Text a spreadsheet would not run as a formula."""
    return f"'{text}" if text.startswith(_FORMULA_START) else text
