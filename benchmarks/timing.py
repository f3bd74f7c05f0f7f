"""Interleaved rounds, minimum kept: the least noisy figure a shared machine gives."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Mapping


def calibrate(action: Callable[[], object], target: float = 0.02) -> int:
    """How many calls of ``action`` take about ``target`` seconds."""
    number = 1
    while True:
        started = time.perf_counter()
        for _ in range(number):
            action()
        elapsed = time.perf_counter() - started
        if elapsed >= target / 4 or number >= 1 << 22:
            return max(1, int(number * target / max(elapsed, 1e-9)))
        number *= 4


def best_of(contenders: Mapping[str, Callable[[], object]], rounds: int, target: float = 0.02) -> dict[str, float]:
    """Seconds per call of each contender: the minimum over ``rounds`` interleaved rounds.

    Each round times every contender once, in an order rotated from round to
    round, so that a burst of load on a shared machine hits all of them alike.
    The collector is paused while timing, as ``timeit`` does.
    """
    numbers = {name: calibrate(action, target) for name, action in contenders.items()}
    best = {name: float("inf") for name in contenders}
    names = list(contenders)
    enabled = gc.isenabled()
    gc.disable()
    try:
        for index in range(rounds):
            order = names[index % len(names):] + names[: index % len(names)]
            for name in order:
                action, number = contenders[name], numbers[name]
                started = time.perf_counter()
                for _ in range(number):
                    action()
                best[name] = min(best[name], (time.perf_counter() - started) / number)
    finally:
        if enabled:
            gc.enable()
    return best
