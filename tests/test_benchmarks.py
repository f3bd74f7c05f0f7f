"""The benchmark command runs end to end (its figures are not asserted: timings belong to benchmarks)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_benchmarks_run_and_write_json_and_a_plot(tmp_path: Path) -> None:
    out, png = tmp_path / "bench.json", tmp_path / "dispatch.png"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--json", str(out), "--plot", str(png)],
        capture_output=True, text=True, timeout=600, env=env, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert set(data["dispatch"]) == {"1", "3", "10", "30", "100"}
    contenders = {"bare loop", "lifecycle dispatch", "lifecycle dispatcher", "psygnal", "blinker"}
    assert set(data["dispatch"]["10"]) == contenders
    assert all({"measure", "value", "limit", "met"} <= set(goal) for goal in data["goals"])
    assert "goals:" in result.stdout and "dispatch, nanoseconds per callback" in result.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
