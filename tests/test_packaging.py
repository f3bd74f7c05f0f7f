"""The sdist: it carries the license and everything its own tests need, and they run from it.

The sdist is built once per session without build isolation (``build`` and
``setuptools>=77`` come with the ``dev`` extra), so this stays a matter of
seconds. ``noxfile.py`` runs the whole suite from an sdist on every Python.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

NEEDED = [
    "LICENSE",
    "README.md",
    "pyproject.toml",
    "tests/__init__.py",
    "tests/conftest.py",
    "tests/leak_zoo.py",
    "tests/test_readme.py",
    "benchmarks/__init__.py",
    "docs/CONTRACT.md",
    "docs/benchmarks.txt",
]


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The extracted sdist's root, and what the build printed."""
    pytest.importorskip("build", reason="needs the dev extra (pip install -e '.[dev]')")
    # a copy: a build in place leaves an egg-info whose file list the next build would reuse
    source = tmp_path_factory.mktemp("source") / "project"
    leftovers = shutil.ignore_patterns(".git", ".venv", ".nox", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis")
    shutil.copytree(ROOT, source, ignore=leftovers)
    out = tmp_path_factory.mktemp("sdist")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(out), str(source)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    (archive,) = out.glob("*.tar.gz")
    with tarfile.open(archive) as tar:
        if sys.version_info >= (3, 12):
            tar.extractall(out, filter="data")
        else:
            tar.extractall(out)  # our own archive, just built
    (root,) = (path for path in out.iterdir() if path.is_dir())
    return root, result.stdout + result.stderr


def test_the_sdist_ships_the_license_and_what_its_tests_need(sdist: tuple[Path, str]) -> None:
    root, _ = sdist
    missing = [name for name in NEEDED if not (root / name).is_file()]
    assert missing == []
    assert "MIT License" in (root / "LICENSE").read_text()
    assert "License-Expression: MIT" in (root / "PKG-INFO").read_text()


def test_the_build_gives_no_deprecation_warning(sdist: tuple[Path, str]) -> None:
    _, output = sdist
    assert "deprecated" not in output.lower(), output


def test_the_tests_of_the_sdist_are_collected_and_run_from_it(sdist: tuple[Path, str]) -> None:
    root, _ = sdist
    env = {**os.environ, "PYTHONPATH": str(root)}
    collect = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only"]
    result = subprocess.run(collect, cwd=root, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "error" not in result.stdout.splitlines()[-1], result.stdout
    # a few quick files that need conftest.py and leak_zoo.py, imported from the sdist itself
    quick = ["tests/test_hooks.py", "tests/test_leakcheck_untracked.py", "tests/test_outputs.py"]
    run = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *quick]
    result = subprocess.run(run, cwd=root, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    check = [sys.executable, "-c", "import lifecycle, tests.leak_zoo; print(lifecycle.__file__)"]
    where = subprocess.run(check, cwd=root, capture_output=True, text=True, timeout=60, env=env)
    assert where.stdout.strip() == str(root / "lifecycle" / "__init__.py"), where.stdout + where.stderr
