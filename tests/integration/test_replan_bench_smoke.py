"""The replan benchmark in miniature, so that it cannot rot: a real server process, a site of
a few simulated chargers (one of them silent) over real WebSockets, on SQLite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "replan.py"
CHARGERS = 4


def test_replan_benchmark_times_every_charger_receiving_its_profile(tmp_path: Path) -> None:
    command = [sys.executable, str(BENCH), "--sizes", str(CHARGERS), "--repeats", "3"]
    command += ["--warm-up", "2", "--database-url", f"sqlite:///{tmp_path / 'x.sqlite3'}"]
    # The silent charger is found out sooner than with the real deadlines (not so soon that
    # a charger answering late on a loaded machine counts as silent).
    env = {**os.environ, "AMPNEXUS_PROFILE_DEADLINE": "3", "AMPNEXUS_COMMAND_TIMEOUT": "4"}
    done = subprocess.run(
        [*command, "--json"], capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, done.stderr[-3000:]

    (run,) = json.loads(done.stdout)["runs"]
    assert run["chargers"] == CHARGERS
    for figure in ("replan_s", "reaction_s"):
        assert 0 < run[figure]["p50"] <= run[figure]["p95"] <= run[figure]["max"], figure
    # Every answering charger got a new profile after every trigger.
    assert (run["replan_missed"], run["reaction_missed"]) == (0, 0)
    logged = run["server_replans"]
    assert len(logged) >= 3 and all(line["sessions"] == CHARGERS for line in logged)
    assert run["server_errors"] == 0
