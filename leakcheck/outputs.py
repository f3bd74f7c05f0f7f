"""Output paths a command line writes at its end, checked at its start.

A report that is written only after a long run must not fail then: a path
that cannot be written is a usage error, found before any work is done.
The checks try for real (permission bits do not tell root, and ``/proc``
looks writable), then undo what they made, so a run that stops early leaves
no empty file or folder behind. Shared by ``python -m leakcheck`` and
``python -m router_demo``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _reason(error: OSError) -> str:
    where = f": {error.filename}" if error.filename else ""
    return f"{error.strerror or error}{where}"


def check_output_file(option: str, path: str) -> None:
    """``ValueError`` saying why a file could not be written at ``path``; nothing when it can.

    An existing file is opened for appending (its content is untouched); a
    new one is created and removed again.
    """
    target = Path(path)
    if target.is_dir():
        raise ValueError(f"{option} {path}: is a folder; give a file path, such as {target / 'report.json'}")
    if not target.parent.is_dir():
        raise ValueError(f"{option} {path}: the folder {target.parent} does not exist; create it or pick another path")
    existed = os.path.lexists(target)
    try:
        with open(target, "a"):
            pass
    except OSError as error:
        raise ValueError(f"{option} {path}: cannot be written ({_reason(error)}); pick another path") from None
    if not existed:
        target.unlink(missing_ok=True)


def check_output_folder(option: str, path: str) -> None:
    """``ValueError`` saying why files could not be written in the folder ``path``; nothing when they can.

    Missing folders are created, a file is written in the last one, and
    whatever was created is removed again.
    """
    target = Path(path)
    missing: list[Path] = []
    folder = target
    while not os.path.lexists(folder) and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    created: list[Path] = []
    try:
        for folder in reversed(missing):
            folder.mkdir()
            created.append(folder)
        tempfile.TemporaryFile(dir=target).close()
    except OSError as error:
        raise ValueError(
            f"{option} {path}: cannot create or write this folder ({_reason(error)}); pick another path"
        ) from None
    finally:
        for folder in reversed(created):
            folder.rmdir()
