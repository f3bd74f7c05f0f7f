"""``pytest --leakcheck-all``: every test re-run, the leaking ones failed and named, in a subprocess."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from leakcheck.pytest_plugin import parse_runs

ROOT = Path(__file__).resolve().parent.parent

SAMPLE = textwrap.dedent(
    """
    import logging

    import pytest

    HELD = []


    class Thing:
        pass


    @pytest.fixture
    def bag():
        return []


    @pytest.fixture(scope="module")
    def shared():
        return {"module": "state"}


    def test_leaky():
        HELD.append(Thing())


    def test_clean(shared):
        assert shared


    def test_state_kept_in_function_fixtures_is_not_a_leak(bag, caplog, capsys):
        bag.extend(Thing() for _ in range(10))  # released with the fixture after each run
        print("some output")
        logging.getLogger("sample").warning("kept by caplog until its teardown")


    @pytest.mark.leakcheck(skip=True)
    def test_opted_out():
        HELD.append(Thing())


    @pytest.mark.leakcheck(warmup=1, runs=2)
    def test_with_its_own_runs():
        pass
    """
)


def pytest_run(tmp_path: Path, *args: str, sample: str = SAMPLE) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_sample.py").write_text(sample)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, "test_sample.py"]
    return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)


def test_the_leaking_test_fails_and_is_named_the_others_pass(tmp_path: Path) -> None:
    result = pytest_run(tmp_path, "--leakcheck-all")
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "1 failed, 4 passed" in out
    assert "FAILED test_sample.py::test_leaky" in out
    assert "leakcheck: test_sample.py::test_leaky leaks when run again and again" in out
    assert "test_sample.Thing: " in out and "held by: test_sample.HELD[" in out  # the same report as check()
    summary = out[out.index("leakcheck --leakcheck-all") :]
    assert re.search(r"4 tests re-run 3:3 \(warm-up:measured\); 1 leaking; the mode cost \d+\.\d\ds", summary)
    assert "LEAK test_sample.py::test_leaky: gc-tracked objects, Python memory blocks" in summary
    assert "test_state_kept_in_function_fixtures" not in summary and "test_opted_out" not in summary


def test_without_the_option_nothing_is_re_run(tmp_path: Path) -> None:
    result = pytest_run(tmp_path)
    assert result.returncode == 0 and "5 passed" in result.stdout
    assert "leakcheck --leakcheck-all" not in result.stdout


def test_runs_can_be_set_for_the_whole_session(tmp_path: Path) -> None:
    result = pytest_run(tmp_path, "--leakcheck-all", "--leakcheck-runs=1:2")
    assert result.returncode == 1
    assert "4 tests re-run 1:2 (warm-up:measured); 1 leaking" in result.stdout


def test_a_test_that_fails_only_when_re_run_reports_that_failure(tmp_path: Path) -> None:
    sample = "RUNS = []\n\ndef test_second_run_fails():\n    RUNS.append(1)\n    assert len(RUNS) == 1\n"
    result = pytest_run(tmp_path, "--leakcheck-all", sample=sample)
    assert result.returncode == 1 and "1 failed" in result.stdout
    assert "assert 2 == 1" in result.stdout


MARKED = "import pytest\n\n@pytest.mark.leakcheck({})\ndef test_x():\n    pass\n"


@pytest.mark.parametrize(
    ("args", "sample", "message"),
    [
        (["--leakcheck-runs=3"], SAMPLE, "--leakcheck-runs must be N:M such as 3:3"),
        (["--leakcheck-runs=3:1"], SAMPLE, "measured runs must be an int >= 2"),
        ([], MARKED.format("runs=1"), "runs must be an int >= 2"),
        ([], MARKED.format("rounds=3"), "takes skip=, warmup=, runs="),
    ],
)
def test_usage_errors_are_one_line_and_exit_4(tmp_path: Path, args: list[str], sample: str, message: str) -> None:
    result = pytest_run(tmp_path, "--leakcheck-all", *args, sample=sample)
    assert result.returncode == 4, result.stdout + result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_parse_runs() -> None:
    assert parse_runs("3:3") == (3, 3) and parse_runs("0:2") == (0, 2)
    for text in ("3", "a:b", "3:1", "-1:3", ""):
        with pytest.raises(ValueError, match="N:M"):
            parse_runs(text)
