"""Argument checks shared by the three packages: one home for each rule.

``bool`` is an ``int`` subclass, so ``True`` would pass a plain
``isinstance(value, int)``; every count in this project rejects it.
"""

from __future__ import annotations

import math


def int_at_least(value: object, name: str, low: int, error: type[Exception] = ValueError) -> int:
    """``value`` if it is an int (not a bool) ``>= low``; else ``error`` saying what was wrong."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise error(f"{name} must be an int >= {low}, got {value!r}")
    return value


def finite_number(value: object, name: str, error: type[Exception] = ValueError) -> float:
    """``value`` as a float if it is a finite int or float (not a bool, NaN or infinity)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise error(f"{name} must be a finite number, got {value!r}")
    return float(value)
