"""Asynchronous exceptions inside registry methods (issue 8): the line-by-line sweep.

See ``tests/async_sweep.py``: for each operation, a ``KeyboardInterrupt``
is raised at every line of the ``lifecycle`` package that the operation runs,
in turn, and each time the registry must be left usable and consistent. The
sweep runs in a child interpreter per operation, since a lock left held would hang it.
"""

from __future__ import annotations

import pytest

from tests.async_sweep import OPERATIONS
from tests.child_process import run_child


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_a_keyboard_interrupt_at_any_line_leaves_the_registry_consistent(operation: str) -> None:
    """One child per operation: a lock left held by one must not fail the others (it may be process-wide)."""
    out = run_child("from tests.async_sweep import main; main(sys.argv[1:])", hang_after=60, args=(operation,))
    assert f"{operation}: swept " in out, out
