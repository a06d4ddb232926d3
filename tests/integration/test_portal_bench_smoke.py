"""The portal benchmark in miniature, so that it cannot rot: a real server process, chargers
seeding sessions over OCPP, a signed-in client timing the pages and exporting the CSV."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "portal.py"


def test_portal_benchmark_times_the_pages_and_exports_every_session() -> None:
    command = [
        sys.executable,
        str(BENCH),
        "--chargers",
        "4",
        "--sessions",
        "40",
        "--repeats",
        "2",
        "--json",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["sessions"] == 40
    for page in ("dashboard", "dashboard_fragment", "charge_points", "sessions_list", "site"):
        assert result[page]["p50_ms"] > 0
    assert result["csv_export"]["sessions"] == 40  # every stored session, once
