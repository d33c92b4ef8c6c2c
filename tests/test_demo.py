"""The README's demo runs end to end on the embedded defaults and shows what it promises:
two versions of one dataset and the exact upstream versions each was made from."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    steward = Path(sys.executable).parent / "steward"
    env = {**os.environ, "STEWARD_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    env.pop("STEWARD_PROJECT_DIR", None)
    result = subprocess.run(
        [str(steward), "demo", "--reset", "--days", "2"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "10 datasets declared and valid" in out
    # two versions of people-flow for the corrected day, each made from its own camera version
    assert re.search(r"│ 1\s+│ promoted", out) and re.search(r"│ 2\s+│ promoted", out)
    assert re.search(
        r"people_flow_hourly \[2026-11-01\] v1 .*\n.*station_camera_detections "
        r"\[2026-11-01\] v1",
        out,
    )
    assert re.search(
        r"people_flow_hourly \[2026-11-01\] v2 .*\n.*station_camera_detections "
        r"\[2026-11-01\] v2",
        out,
    )
    assert re.search(r"backup verify: (\d+) of \1 copies", out)
    assert "chain intact" in out
    assert "dagster dev -w workspace.yaml" in out
    assert (tmp_path / "home" / "dagster_home").is_dir()
