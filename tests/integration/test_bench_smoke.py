"""The OCPP load benchmark in miniature, so that it cannot rot: a real server process, a
real load-generator process and the bare ceiling, on SQLite."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "ocpp_load.py"


def test_load_benchmark_reports_throughput_and_loses_nothing() -> None:
    command = [sys.executable, str(BENCH), "--chargers", "20", "--duration", "3", "--rate", "2"]
    command += ["--closed-loop", "--backend", "sqlite", "--json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    outcome = json.loads(done.stdout)

    run = outcome["runs"]["sqlite"]
    assert run["connected"] == 20 and not run["connect_errors"]
    assert [phase["name"] for phase in run["phases"]] == ["open loop", "closed loop"]
    for phase in run["phases"]:
        assert phase["messages_per_s"] > 0
        assert phase["latency_ms"]["p99"] is not None
        assert (phase["call_errors"], phase["timeouts"], phase["disconnects"]) == ({}, 0, 0)
    for check, found in run["verification"].items():
        assert found["acknowledged"] > 0, check
        assert (found["lost"], found["extra"], found.get("duplicates", 0)) == (0, 0, 0), check
    assert run["server_log"]["warnings_and_errors"] == 0, run["server_log"]["last"]
    assert run["memory"]["peak_rss_kib"] > run["memory"]["rss_before_connect_kib"] > 0
    assert outcome["runs"]["bare"]["phases"][0]["messages_per_s"] > 0
    assert outcome["ceiling_ratio"]["sqlite"] > 0
