"""The test suite on every supported Python this machine has: ``nox`` (one Python: ``nox -s tests-3.12``).

A Python that is not installed is skipped, not an error. Pythons installed
with pyenv are found even when pyenv's shims do not expose them (its shims
answer only for the selected versions): their ``bin`` folders are put first
on ``PATH`` before nox looks for ``python3.X``.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]

nox.options.error_on_missing_interpreters = False
nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True


def _pyenv_bins(versions: list[str]) -> list[str]:
    """The newest pyenv-installed interpreter's ``bin`` folder for each version, if any."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found = []
    for version in versions:
        candidates = sorted(root.glob(f"{version}.*/bin/python{version}"), key=lambda p: p.parent.parent.name)
        if candidates:
            found.append(str(candidates[-1].parent))
    return found


os.environ["PATH"] = os.pathsep.join([*_pyenv_bins(PYTHONS), os.environ.get("PATH", "")])


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Install the project with its dev extra and run the README's test command."""
    session.install("-e", ".[dev]")
    session.run("python", "-m", "pytest", *session.posargs)
