"""The installed ``leakcheck`` command behaves as ``python -m leakcheck`` does, and says its own name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).parent / "leakcheck"

pytestmark = pytest.mark.skipif(not SCRIPT.exists(), reason="needs the package installed (pip install -e .)")

TARGET = """
class Widget:
    pass


def build():
    return Widget()
"""


def test_the_script_imports_modules_from_the_current_folder(tmp_path: Path) -> None:
    (tmp_path / "local_target.py").write_text(TARGET)
    result = subprocess.run([str(SCRIPT), "local_target:build", "--cycles", "4", "--rounds", "2"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("leakcheck: clean")


def test_the_script_names_itself_in_its_usage() -> None:
    result = subprocess.run([str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("usage: leakcheck ")


def test_python_m_leakcheck_keeps_its_own_usage_line() -> None:
    result = subprocess.run([sys.executable, "-m", "leakcheck", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("usage: python -m leakcheck ")
