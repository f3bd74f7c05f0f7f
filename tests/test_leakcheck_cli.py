"""The command line and the pytest fixture, each in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, cwd: Path = ROOT, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def test_cli_exits_1_on_a_leak_and_explains_it(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = run("-m", "leakcheck", "tests.leak_zoo:bound_method_in_a_list", "--cycles", "6", "--rounds", "3",
                 "--json", str(out), "--graph", str(tmp_path / "graphs"))  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "LEAK" in result.stdout and "tests.leak_zoo.CALLBACKS[" in result.stdout
    data = json.loads(out.read_text())
    assert data["leaked"] is True and data["cycles"] == 12  # 6, and 6 more to confirm
    assert any(path.endswith(".dot") for path in data["graphs"])


def test_cli_exits_0_when_clean_with_teardown_and_watch() -> None:
    result = run("-m", "leakcheck", "tests.leak_zoo:Widget", "--teardown", "tests.leak_zoo:Widget.on_event",
                 "--watch", "tests.leak_zoo:Widget", "--cycles", "6", "--rounds", "3")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("leakcheck: clean")
    assert result.stderr == ""  # no progress bar when stderr is not a terminal


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope.module:x"], "cannot import 'nope.module'"),
        (["tests.leak_zoo:missing"], "has no attribute 'missing'"),
        (["tests.leak_zoo"], "is not MODULE:NAME"),
        (["tests.leak_zoo:CALLBACKS"], "not a callable"),
        (["tests.leak_zoo:Widget", "--watch", "tests.leak_zoo:CALLBACKS"], "not a class"),
        (["tests.leak_zoo:Widget", "--cycles", "1"], "cycles must be"),
        (["tests.leak_zoo:Widget", "--cycles", "many"], "invalid int value"),
    ],
)
def test_cli_usage_errors_exit_2_with_one_line(args: list[str], message: str) -> None:
    result = run("-m", "leakcheck", *args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_cli_exits_3_when_the_target_raises(tmp_path: Path) -> None:
    (tmp_path / "broken_target.py").write_text("def build():\n    raise RuntimeError('boom')\n")
    result = run("-m", "leakcheck", "broken_target:build", cwd=tmp_path)
    assert result.returncode == 3 and "RuntimeError: boom" in result.stderr


def test_the_pytest_fixture(tmp_path: Path) -> None:
    (tmp_path / "test_sample.py").write_text(
        textwrap.dedent(
            """
            import inspect

            from leakcheck import assert_no_leaks

            HELD = []

            class Thing:
                pass

            def leaky():
                HELD.append(Thing())
                return HELD[-1]

            def test_clean(leakcheck):
                report = leakcheck(Thing, cycles=10, rounds=5)
                assert report.cycles == 5  # scaled by --leakcheck-scale=0.5
                assert not report.leaked

            def test_leaky(leakcheck):
                leakcheck(leaky, rounds=3)

            def test_signature(leakcheck):
                assert inspect.signature(leakcheck) == inspect.signature(leakcheck.__wrapped__)
                assert leakcheck.__wrapped__ is assert_no_leaks
            """
        )
    )
    graphs = tmp_path / "graphs"
    result = run("-m", "pytest", "-q", "-p", "no:cacheprovider", "--leakcheck-scale=0.5",
                 f"--leakcheck-graphs={graphs}", "test_sample.py", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 1, result.stdout
    assert "1 failed, 2 passed" in result.stdout
    assert "LeakError" in result.stdout and "test_sample.HELD[" in result.stdout
    assert list((graphs / "test_leaky").glob("*.dot"))


def test_the_plugin_is_registered_through_its_entry_point() -> None:
    result = run("-m", "pytest", "--help")
    assert "--leakcheck-scale" in result.stdout and "--leakcheck-graphs" in result.stdout


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "leakcheck"
    assert script.exists(), "pip install -e . should install the leakcheck command"
    result = subprocess.run([str(script), "nope.module:x"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "cannot import 'nope.module'" in result.stderr
