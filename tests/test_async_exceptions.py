"""Asynchronous exceptions inside registry methods (issue 8): the line-by-line sweep.

See ``tests/async_sweep.py``: for each operation, a ``KeyboardInterrupt``
is raised at every line of the ``lifecycle`` package that the operation runs,
in turn, and each time the registry must be left usable and consistent. The
sweep runs in a child interpreter, since a lock left held would hang it.
"""

from __future__ import annotations

import pytest

from tests.async_sweep import OPERATIONS
from tests.child_process import run_child

GROUPS = {
    "add": [name for name in OPERATIONS if name.startswith("add")],
    "remove": [name for name in OPERATIONS if name.startswith(("remove", "clear"))],
    "dispatch_and_queries": ["dispatch_rebuild", "dispatch_resolving_a_name", "adispatch", "queries"],
    "deaths": ["owner_death", "owner_death_collected", "function_death"],
}


def test_every_operation_is_in_one_group() -> None:
    grouped = [name for names in GROUPS.values() for name in names]
    assert sorted(grouped) == sorted(OPERATIONS)


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_a_keyboard_interrupt_at_any_line_leaves_the_registry_consistent(group: str) -> None:
    operations = GROUPS[group]
    out = run_child("from tests.async_sweep import main; main(sys.argv[1:])", hang_after=90, args=tuple(operations))
    for operation in operations:
        assert f"\n{operation}: swept " in "\n" + out, out
