"""Output paths are checked before a run: one line on stderr, exit 2, nothing left behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from leakcheck.outputs import check_output_file, check_output_folder

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=env)


def test_a_new_file_in_an_existing_folder_passes_and_is_not_left_behind(tmp_path: Path) -> None:
    check_output_file("--json", str(tmp_path / "report.json"))
    assert list(tmp_path.iterdir()) == []


def test_an_existing_file_passes_and_keeps_its_content(tmp_path: Path) -> None:
    existing = tmp_path / "report.json"
    existing.write_text("before")
    check_output_file("--json", str(existing))
    assert existing.read_text() == "before"


@pytest.mark.parametrize(
    ("relative", "message"),
    [
        ("missing/report.json", "the folder"),
        ("a-file/report.json", "the folder"),
        ("a-folder", "is a folder"),
    ],
)
def test_a_file_that_cannot_be_written_is_a_value_error(tmp_path: Path, relative: str, message: str) -> None:
    (tmp_path / "a-file").write_text("")
    (tmp_path / "a-folder").mkdir()
    with pytest.raises(ValueError, match=message) as caught:
        check_output_file("--json", str(tmp_path / relative))
    assert str(caught.value).startswith(f"--json {tmp_path / relative}: ") and "\n" not in str(caught.value)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a-file", "a-folder"]


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_a_file_that_the_system_refuses_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="cannot be written"):
        check_output_file("--json", "/proc/self/report.json")


def test_a_folder_that_can_be_created_passes_and_is_not_left_behind(tmp_path: Path) -> None:
    check_output_folder("--graph", str(tmp_path / "a" / "b" / "graphs"))
    check_output_folder("--graph", str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_a_folder_under_a_file_is_a_value_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    for relative in ("a-file", "a-file/graphs", "a-file/deeper/graphs"):
        with pytest.raises(ValueError, match="cannot create or write this folder"):
            check_output_folder("--graph", str(tmp_path / relative))
    assert [path.name for path in tmp_path.iterdir()] == ["a-file"]


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs Linux /proc")
def test_a_folder_the_system_refuses_is_a_value_error() -> None:
    """``/proc`` passes a permission check for root, yet nothing can be created in it."""
    with pytest.raises(ValueError, match="cannot create or write this folder"):
        check_output_folder("--graph", "/proc/nosuch/graphs")


def _one_line_usage_error(result: subprocess.CompletedProcess[str], prefix: str, option: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""  # no report: the run never started
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{prefix}: {option} "), result.stderr


def test_leakcheck_refuses_an_unwritable_json_path_before_the_run(tmp_path: Path) -> None:
    result = run("-m", "leakcheck", "tests.leak_zoo:bound_method_in_a_list", "--json", str(tmp_path / "no" / "r.json"))
    _one_line_usage_error(result, "leakcheck", "--json")


def test_leakcheck_refuses_a_graph_folder_that_cannot_be_created_before_the_run(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    result = run("-m", "leakcheck", "tests.leak_zoo:bound_method_in_a_list", "--cycles", "6", "--rounds", "3",
                 "--graph", str(tmp_path / "a-file" / "graphs"))  # fmt: skip
    _one_line_usage_error(result, "leakcheck", "--graph")


def test_router_demo_refuses_an_unwritable_json_path_before_the_run(tmp_path: Path) -> None:
    result = run("-m", "router_demo", "--reloads", "20", "--threads", "1", "--json", str(tmp_path))
    _one_line_usage_error(result, "router_demo", "--json")
