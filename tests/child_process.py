"""Run a test's body in a fresh interpreter, so that a hang fails the test instead of the suite.

The child arms ``faulthandler.dump_traceback_later(..., exit=True)`` first: a
deadlock ends the child with every thread's traceback on stderr (showing
where it hung), and the parent's own timeout is only the last resort.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_PREAMBLE = """\
import faulthandler, sys
faulthandler.dump_traceback_later({hang_after}, exit=True)
"""


def run_child(body: str, *, hang_after: float, args: tuple[str, ...] = ()) -> str:
    """Run ``body`` (Python source) in a child interpreter; return its stdout.

    Fails the calling test, with the child's output, when the child exits
    non-zero, or hangs for ``hang_after`` seconds (faulthandler's dump shows
    where).
    """
    source = _PREAMBLE.format(hang_after=hang_after) + textwrap.dedent(body)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("PYTHONDEVMODE", None)
    try:
        done = subprocess.run(
            [sys.executable, "-c", source, *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=hang_after + 30,
        )
    except subprocess.TimeoutExpired as error:
        raise AssertionError(
            f"child still running {hang_after + 30:.0f} s after start (faulthandler did not end it)\n"
            f"stdout:\n{error.stdout!r}\nstderr:\n{error.stderr!r}"
        ) from None
    hung = "Timeout (" in done.stderr
    verdict = f"child hung for {hang_after} s" if hung and done.returncode != 0 else f"child exited {done.returncode}"
    assert done.returncode == 0, (
        f"{verdict}\n--- stdout ---\n{done.stdout[-4000:]}\n--- stderr ---\n{done.stderr[-8000:]}"
    )
    return done.stdout
