"""The README's Python examples run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
RUNNABLE = [block for block in BLOCKS if "def test_" not in block]


def test_the_readme_has_examples() -> None:
    assert len(RUNNABLE) >= 4


@pytest.mark.parametrize("index", range(len(RUNNABLE)))
def test_readme_example_runs(index: int) -> None:
    result = subprocess.run([sys.executable, "-c", RUNNABLE[index]], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
