"""`ampnexus simulate-site` as a user runs it: a real process reading a real scenario file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SMALL = Path(__file__).parents[1] / "data" / "small_scenario.json"
METRICS = {
    "energy_requested_kwh",
    "energy_delivered_kwh",
    "sessions_fully_met",
    "cost",
    "cost_per_kwh",
    "peak_import_kw",
    "cap_violations",
    "peak_window_kwh",
    "carbon_kg",
    "solve_ms_p50",
    "solve_ms_p95",
}


def simulate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ampnexus.cli", "simulate-site", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_smart_replay_prints_every_metric_as_json():
    done = simulate(str(SMALL), "--strategy", "smart", "--json")
    assert done.returncode == 0, done.stderr
    metrics = json.loads(done.stdout)
    assert set(metrics) >= METRICS
    assert metrics["strategy"] == "smart"
    assert metrics["energy_requested_kwh"] == 87.0
    # 87 kWh fit under the limits in the EVs' windows: the planner delivers every one.
    assert metrics["energy_delivered_kwh"] >= 0.99 * 87.0
    assert metrics["sessions_fully_met"] == 4
    assert metrics["cap_violations"] == 0
    assert metrics["peak_import_kw"] <= 30 * 0.95 + 1e-3  # the site limit less its margin
    assert 0 < metrics["peak_window_kwh"] < metrics["energy_delivered_kwh"]
    assert metrics["cost"] > 0 and metrics["carbon_kg"] > 0
    assert 0 < metrics["cost_per_kwh"] < 0.38  # below the dearest import price of the day
    assert 0 < metrics["solve_ms_p50"] <= metrics["solve_ms_p95"]


def test_smart_costs_less_than_uncontrolled_which_breaks_the_limits():
    smart = json.loads(simulate(str(SMALL), "--strategy", "smart", "--json").stdout)
    done = simulate(str(SMALL), "--strategy", "uncontrolled", "--json")
    assert done.returncode == 0, done.stderr
    uncontrolled = json.loads(done.stdout)
    assert uncontrolled["cap_violations"] > 0
    assert uncontrolled["peak_import_kw"] > 30
    assert smart["cost_per_kwh"] < uncontrolled["cost_per_kwh"]


def test_a_malformed_scenario_is_refused_with_the_field_named(tmp_path: Path):
    broken = json.loads(SMALL.read_text())
    broken["sessions"][0]["departure"] = broken["sessions"][0]["arrival"]
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    done = simulate(str(path), "--strategy", "edf", "--json")
    assert done.returncode == 2
    assert "sessions[0].departure: must be after arrival" in done.stderr
    assert done.stdout == ""
