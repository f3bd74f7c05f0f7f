"""Which dispatch loop runs: the optional C accelerator (``lifecycle._speedups``) or pure Python.

Chosen once, at import:

- ``LIFECYCLE_PURE_PYTHON=1``, or an interpreter other than CPython: pure Python;
- else the compiled module when it was built (``pip install`` compiles it
  where a C compiler exists), and pure Python when it was not, unless
  ``LIFECYCLE_REQUIRE_EXTENSION=1`` asks for it, which then makes its absence
  an ``ImportError`` (so CI cannot test the pure path twice by accident).

The C loop holds no policy of its own: it is handed the Python halves of the
contract here (``Unresolved``, ``report_failure``, ``discard_awaitable``), so
what is logged and how a callback is named have one home, ``plans``.
"""

from __future__ import annotations

import os
import platform
import types
from typing import TYPE_CHECKING

from lifecycle.entries import Unresolved
from lifecycle.plans import discard_awaitable, report_failure

PURE_PYTHON_VARIABLE = "LIFECYCLE_PURE_PYTHON"
REQUIRE_VARIABLE = "LIFECYCLE_REQUIRE_EXTENSION"


def _flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


def load() -> types.ModuleType | None:
    """The configured C module, or ``None`` when pure Python runs."""
    if _flag(PURE_PYTHON_VARIABLE) or platform.python_implementation() != "CPython":
        return None
    try:
        from lifecycle import _speedups
    except ImportError as error:
        if _flag(REQUIRE_VARIABLE):
            raise ImportError(
                f"{REQUIRE_VARIABLE}=1 but lifecycle._speedups is not built ({error}): "
                f"reinstall with a C compiler (pip install -e .), or unset {REQUIRE_VARIABLE}"
            ) from error
        return None
    _speedups.configure(Unresolved, report_failure, discard_awaitable)
    return _speedups


speedups = load()

#: Whether dispatch runs through the C accelerator.
COMPILED: bool = speedups is not None

if TYPE_CHECKING:

    class DispatchBase:
        """The base of ``CallbackRegistry``: the C one when compiled, else ``object``."""

else:
    DispatchBase = object if speedups is None else speedups.DispatchBase
