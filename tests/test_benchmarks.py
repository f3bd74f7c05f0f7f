"""The benchmark command runs end to end (its figures are not asserted: timings belong to benchmarks)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import lifecycle

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
    paths = ("dispatch, compiled", "dispatcher, compiled") if lifecycle.COMPILED else ()
    contenders = {"bare loop", "weakref floor", *paths, "dispatch, pure", "dispatcher, pure", "psygnal", "blinker"}
    assert set(data["dispatch"]["10"]) == contenders
    assert set(data["dispatch_realistic"]) == {"bare loop", *paths, "dispatch, pure", "dispatcher, pure"}
    assert all({"measure", "value", "limit", "met"} <= set(goal) for goal in data["goals"])
    assert "goals:" in result.stdout and "dispatch, nanoseconds per callback" in result.stdout
    assert ("path: compiled" if lifecycle.COMPILED else "path: pure Python") in result.stdout
    assert "realistic hook" in result.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def synthetic_results(dispatch_ratio: float, compiled: bool = True) -> dict[str, object]:
    """Figures shaped like a real run's, with every goal met except as asked.

    ``dispatch_ratio`` is the compiled dispatch's ratio to the bare loop, and
    the pure one's to the weakref floor.
    """
    timings = {"bare loop": 1.0, "weakref floor": 1.2, "dispatch, pure": 1.2 * dispatch_ratio,
               "dispatcher, pure": 1.3, "psygnal": 5.0, "blinker": 9.0}  # fmt: skip
    realistic = {"bare loop": 1.0, "dispatch, pure": 1.5, "dispatcher, pure": 1.5}
    if compiled:
        timings.update({"dispatch, compiled": dispatch_ratio, "dispatcher, compiled": 0.9})
        realistic.update({"dispatch, compiled": 1.2, "dispatcher, compiled": 1.1})
    teardown = {f"lifecycle {way}, {n} others": 1.0 for way in ("remove_owner", "drop") for n in (100, 10000)}
    teardown.update({"psygnal drop, 100 others": 2.0, "blinker drop, 100 others": 2.0})
    add = {f"{kind}, {n} entries": 1.0 for kind in ("add duplicate", "add new + remove") for n in (100, 10000)}
    return {
        "dispatch": {1: dict(timings), 10: dict(timings), 30: dict(timings)},
        "dispatch_realistic": realistic,
        "teardown": teardown,
        "add": add,
        "leakcheck": {"empty heap": 1.0, "1,000,000 other objects": 1.1},
        "memory": {"remove_owner": 0.0, "drop": 0.0},
    }


def test_goals_are_judged_from_ratios() -> None:
    from benchmarks.report import goals

    assert all(goal.met for goal in goals(synthetic_results(dispatch_ratio=1.05)))
    missed = [goal for goal in goals(synthetic_results(dispatch_ratio=1.5)) if not goal.met]
    assert [goal.measure for goal in missed] == [
        "compiled dispatch() per callback / bare loop, 1 receivers",
        "compiled dispatch() per callback / bare loop, 10 receivers",
        "pure dispatch() per callback / weakref floor, 10 receivers",
        "compiled dispatch() per callback / bare loop, 30 receivers",
        "pure dispatch() per callback / weakref floor, 30 receivers",
    ]
    assert missed[0].row().lstrip().startswith("MISSED")


def test_a_pure_run_judges_only_the_pure_goals() -> None:
    from benchmarks.report import goals

    measures = [goal.measure for goal in goals(synthetic_results(dispatch_ratio=1.05, compiled=False))]
    assert measures and not any("compiled" in measure for measure in measures)
    assert "realistic hook: pure dispatch() / bare strong loop" in measures


def test_check_exits_1_only_when_a_goal_is_missed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import benchmarks.__main__ as command

    for ratio, expected in ((1.05, 0), (1.5, 1)):
        results = synthetic_results(ratio)
        results.update({"python": "3.x", "psygnal": "x", "blinker": "x", "memory_cycles": 10, "path": "path: x",
                        "dispatch_bookkeeping": {"bare loop": 1.0, "dispatch, pure": 1.2}})  # fmt: skip
        monkeypatch.setattr(command, "run", lambda quick, results=results: results)
        assert command.main(["--check"]) == expected
        assert command.main([]) == 0  # without --check, a miss is reported, not a failure
    assert "MISSED" in capsys.readouterr().out
