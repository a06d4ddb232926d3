"""Cut the small extract of the reference data that the tests read (tests/data/reference).

    .venv/bin/python bench/extract_reference.py --reference DIR [--out tests/data/reference]

The extract keeps the reference files' own formats (bench/planner.py reads it as it reads
the full set) and only the rows that the tests and `bench/planner.py --days 2019-10-15` use:
- sessions arriving 2019-09-16 .. 2019-10-16 (the day and the four weeks its forecast reads),
  and one of every station that had none then;
- office load and solar of 15 September .. 31 October;
- marginal emissions of 14-17 October 2019 (UTC);
- Agile prices of 1-3 November 2022, of the spring clock change (25-27 March 2023), and of
  15 September .. 31 October 2023 (where October 2019's weekdays land).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

SESSIONS = (date(2019, 9, 16), date(2019, 10, 16))
SITE_DAYS = ((9, 15), (10, 31))  # (month, day), any year
MOER_DAYS = (date(2019, 10, 14), date(2019, 10, 17))
AGILE_DAYS = (
    (date(2022, 11, 1), date(2022, 11, 3)),
    (date(2023, 3, 25), date(2023, 3, 27)),
    (date(2023, 9, 15), date(2023, 10, 31)),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--reference", type=Path, required=True, help="the full reference data")
    default_out = Path(__file__).resolve().parents[1] / "tests" / "data" / "reference"
    parser.add_argument("--out", type=Path, default=default_out)
    args = parser.parse_args()
    ref, out = args.reference, args.out

    def session_day(row: list[str]) -> date:
        return datetime.fromisoformat(row[0]).date()

    sessions = sorted(ref.glob("sessions/acn_caltech_*.csv.gz"))
    rows = [row for path in sessions for row in _read(path)[1:]]
    header = _read(sessions[0])[0]
    chosen = [row for row in rows if SESSIONS[0] <= session_day(row) <= SESSIONS[1]]
    # The benchmark puts stations on phases by their place among all stations: one session
    # of every station not seen in those weeks keeps that place as in the full set.
    seen = {row[4] for row in chosen}
    for row in rows:
        if row[4] not in seen:
            chosen.append(row)
            seen.add(row[4])
    _write(out / f"sessions/acn_caltech_{SESSIONS[0]}_{SESSIONS[1]}.csv.gz", [header, *chosen])

    _cut(
        ref,
        out,
        "site/office_load_medium_la_hourly.csv",
        lambda r: _in_site_days(_doe_day(r)),
        columns=2,  # the facility's electricity; its parts are not read
    )
    _cut(ref, out, "site/pv_jpl_220kWdc_30min.csv", lambda r: _in_site_days(_pv_day(r)))
    _cut(
        ref,
        out,
        "tariffs/moer_caiso_sce_2019-10.csv.gz",
        lambda r: MOER_DAYS[0] <= datetime.fromisoformat(r[0]).date() <= MOER_DAYS[1],
        columns=2,  # the moer itself; the 36 forecast columns are not read
    )
    _cut(
        ref,
        out,
        "tariffs/octopus_agile_2022-11_2023-12.csv",
        lambda r: _in_agile_days(datetime.strptime(r[0], "%d/%m/%Y %H:%M").date()),
        name="tariffs/octopus_agile_extract.csv",
    )
    return 0


def _cut(
    ref: Path,
    out: Path,
    path: str,
    keep: Callable[[list[str]], bool],
    columns: int | None = None,
    name: str | None = None,
) -> None:
    header, *rows = _read(ref / path)
    kept = [row[:columns] for row in [header, *filter(keep, rows)]]
    _write(out / (name or path), kept)


def _doe_day(row: list[str]) -> tuple[int, int]:
    month, day = row[0].split()[0].split("/")  # " 10/15  01:00:00", the hour it ends
    return int(month), int(day)


def _pv_day(row: list[str]) -> tuple[int, int]:
    moment = datetime.strptime(row[0].split(",")[0], "%b %d")  # "Oct 15, 12:30 pm"
    return moment.month, moment.day


def _in_site_days(month_day: tuple[int, int]) -> bool:
    return SITE_DAYS[0] <= month_day <= SITE_DAYS[1]


def _in_agile_days(day: date) -> bool:
    return any(first <= day <= last for first, last in AGILE_DAYS)


def _read(path: Path) -> list[list[str]]:
    opener: Any = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="") as file:
        return list(csv.reader(file))


def _write(path: Path, rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    data = text.getvalue().encode()
    if path.suffix == ".gz":  # no timestamp in the header: the same input, the same bytes
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    print(f"{path}: {len(rows) - 1} rows, {len(data) // 1024} KiB")


if __name__ == "__main__":
    raise SystemExit(main())
