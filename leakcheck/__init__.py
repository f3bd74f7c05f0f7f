"""Prove that nothing dangles after build/teardown cycles, and explain what does.

``check(build, teardown=..., ...)`` returns a ``LeakReport``;
``assert_no_leaks(...)`` raises ``LeakError`` with the report as message.
"""

from leakcheck.harness import LeakError, assert_no_leaks, check, grows_every_round
from leakcheck.report import Detail, Example, LeakReport, Measure, Survivors

__all__ = [
    "Detail",
    "Example",
    "LeakError",
    "LeakReport",
    "Measure",
    "Survivors",
    "assert_no_leaks",
    "check",
    "grows_every_round",
]
