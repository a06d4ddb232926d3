"""The webhook benchmark in miniature, so that it cannot rot: real server processes, a
fast and a slow receiver."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "webhooks.py"


def test_webhook_benchmark_reports_ocpp_and_delivery_figures() -> None:
    command = [sys.executable, str(BENCH), "--chargers", "5", "--duration", "3", "--json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    phases = {p["phase"]: p for p in json.loads(done.stdout)["phases"]}
    assert set(phases) == {"none", "fast", "slow"}
    for figures in phases.values():
        assert figures["answered_per_s"] > 0 and figures["round_trip_ms"]["p99"] is not None
    assert phases["none"]["events_received_per_s"] == 0
    assert phases["fast"]["events_received_per_s"] > 0
    assert phases["slow"]["deliveries_waiting_at_end"] > 0  # held by the 10 s receiver
