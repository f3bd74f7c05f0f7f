"""What is measured. Each suite returns plain numbers; ``report`` turns them into goals and a table."""

from __future__ import annotations

import gc
import itertools
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import blinker
from psygnal import Signal

import leakcheck
from benchmarks.peers import REALISTIC_SIZE, BookkeepingReceiver, Receiver, wire, wire_realistic
from benchmarks.timing import best_of
from lifecycle import CallbackRegistry, Hook

SIX_HOOKS = (Hook.INPUT, Hook.SUCCESS, Hook.FAILURE, Hook.ASYNC_SUCCESS, Hook.ASYNC_FAILURE, Hook.SERVICE)


#: Dispatch, teardown and add figures are ratios of a few percent: many short rounds (each contender timed for
#: 2 ms, ``SHORT_ROUNDS`` times as many rounds) catch a quiet moment of a shared machine for
#: every contender far more reliably than a few long ones.
SHORT_ROUNDS = 15
SHORT_TARGET = 0.002


def _short(contenders: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    return best_of(contenders, rounds * SHORT_ROUNDS, target=SHORT_TARGET)


def dispatch(sizes: tuple[int, ...], rounds: int) -> dict[int, dict[str, float]]:
    """Seconds per callback, per receiver count and contender."""
    results = {}
    for size in sizes:
        receivers = [Receiver() for _ in range(size)]
        timings = _short(wire(receivers), rounds)
        results[size] = {name: seconds / size for name, seconds in timings.items()}
    return results


def dispatch_bookkeeping(size: int, rounds: int) -> dict[str, float]:
    """The same at one size, with receivers that do the router's bookkeeping."""
    receivers: list[Receiver] = [BookkeepingReceiver() for _ in range(size)]
    return {name: seconds / size for name, seconds in _short(wire(receivers), rounds).items()}


def dispatch_realistic(rounds: int) -> dict[str, float]:
    """Seconds per callback on the realistic hook (``peers.wire_realistic``)."""
    return {name: seconds / REALISTIC_SIZE for name, seconds in _short(wire_realistic(), rounds).items()}


class Owner:
    """A router-like owner: six bound methods, one per hook.

    All plain methods, so that every library takes the same six receivers
    (psygnal refuses coroutine functions without an async backend).
    """

    def on_input(self, *args: Any) -> None: ...
    def on_success(self, *args: Any) -> None: ...
    def on_failure(self, *args: Any) -> None: ...
    def on_async_success(self, *args: Any) -> None: ...
    def on_async_failure(self, *args: Any) -> None: ...
    def on_service(self, *args: Any) -> None: ...

    def methods(self) -> tuple[Callable[..., Any], ...]:
        return (
            self.on_input, self.on_success, self.on_failure,
            self.on_async_success, self.on_async_failure, self.on_service,
        )  # fmt: skip


class _SixSignals:
    input = Signal(object)
    success = Signal(object)
    failure = Signal(object)
    async_success = Signal(object)
    async_failure = Signal(object)
    service = Signal(object)


def _populated(others: int) -> tuple[CallbackRegistry, list[Owner]]:
    registry = CallbackRegistry(max_callbacks=others + 100, name=f"bench-{others}")
    keep = [Owner() for _ in range(others)]
    for owner in keep:
        for hook, method in zip(SIX_HOOKS, owner.methods(), strict=True):
            registry.add(hook, method)
    return registry, keep


def teardown(rounds: int, small: int = 100, large: int = 10_000) -> dict[str, float]:
    """Seconds to build and tear down one six-callback owner, by each library and way."""
    small_registry, small_keep = _populated(small)
    large_registry, large_keep = _populated(large)

    def ours(registry: CallbackRegistry, explicit: bool) -> Callable[[], None]:
        def cycle() -> None:
            owner = Owner()
            for hook, method in zip(SIX_HOOKS, owner.methods(), strict=True):
                registry.add(hook, method)
            if explicit:
                registry.remove_owner(owner)
            del owner

        return cycle

    emitter = _SixSignals()
    psygnal_signals = [getattr(emitter, name) for name in ("input", "success", "failure", "async_success",
                                                           "async_failure", "service")]  # fmt: skip
    psygnal_keep = [Owner() for _ in range(small)]
    for owner in psygnal_keep:
        for signal, method in zip(psygnal_signals, owner.methods(), strict=True):
            signal.connect(method)
    blinker_signals = [blinker.Signal() for _ in SIX_HOOKS]
    blinker_keep = [Owner() for _ in range(small)]
    for owner in blinker_keep:
        for signal, method in zip(blinker_signals, owner.methods(), strict=True):
            signal.connect(method)

    def psygnal_cycle() -> None:
        owner = Owner()
        for signal, method in zip(psygnal_signals, owner.methods(), strict=True):
            signal.connect(method)
        del owner

    def blinker_cycle() -> None:
        owner = Owner()
        for signal, method in zip(blinker_signals, owner.methods(), strict=True):
            signal.connect(method)
        del owner

    timings = _short(
        {
            f"lifecycle remove_owner, {small} others": ours(small_registry, True),
            f"lifecycle remove_owner, {large} others": ours(large_registry, True),
            f"lifecycle drop, {small} others": ours(small_registry, False),
            f"lifecycle drop, {large} others": ours(large_registry, False),
            f"psygnal drop, {small} others": psygnal_cycle,
            f"blinker drop, {small} others": blinker_cycle,
        },
        rounds,
    )
    assert len(small_registry) == 6 * small and len(large_registry) == 6 * large, "a teardown left entries behind"
    del small_keep, large_keep, psygnal_keep, blinker_keep
    return timings


def add(rounds: int, small: int = 100, large: int = 10_000) -> dict[str, float]:
    """Seconds per ``add``: a duplicate (deduplication only), and a new entry plus its removal."""
    contenders = {}
    kept = []
    for size in (small, large):
        registry, keep = _populated(size)
        existing = keep[0]
        kept.append(keep)

        def duplicate(registry: CallbackRegistry = registry, existing: Owner = existing) -> None:
            registry.add(Hook.SUCCESS, existing.on_success)

        def fresh(registry: CallbackRegistry = registry, owner: Owner = Owner()) -> None:
            registry.add(Hook.SUCCESS, owner.on_success)
            registry.remove(owner.on_success, Hook.SUCCESS)

        contenders[f"add duplicate, {size} entries"] = duplicate
        contenders[f"add new + remove, {size} entries"] = fresh
    return _short(contenders, rounds)


def leakcheck_cost(heap_objects: int, cycles: int = 60) -> dict[str, float]:
    """Median seconds per leakcheck cycle, on an empty heap and beside ``heap_objects`` others.

    Timed from cycle to cycle through the progress callback, so the check's
    one-time costs (freezing the heap, the final explanation) and its
    per-round readings are not spread over the cycles.
    """
    registry = CallbackRegistry(max_callbacks=1000)

    def build() -> Owner:
        owner = Owner()
        for hook, method in zip(SIX_HOOKS, owner.methods(), strict=True):
            registry.add(hook, method)
        return owner

    def median_cycle() -> float:
        stamps: list[float] = []
        leakcheck.check(build, cycles=cycles, rounds=2, warmup=2, explain=False,
                        progress=lambda done, total: stamps.append(time.perf_counter()))  # fmt: skip
        gaps = sorted(after - before for before, after in itertools.pairwise(stamps))
        return gaps[len(gaps) // 2]

    results = {"empty heap": min(median_cycle() for _ in range(3))}
    heap = [[index] for index in range(heap_objects)]  # unrelated, gc-tracked
    results[f"{heap_objects:,} other objects"] = min(median_cycle() for _ in range(3))
    del heap
    gc.collect()
    return results


def memory_per_cycle(cycles: int, warmup: int = 1_000) -> dict[str, float]:
    """Traced bytes kept per build/teardown cycle of a six-callback owner, after warm-up.

    A slope: tracing starts before the warm-up, and the two readings are taken
    after it and after ``cycles`` more, so one-time allocations (tracemalloc's
    own, first-use caches) do not count as growth.
    """
    registry = CallbackRegistry()

    def cycle(explicit: bool) -> None:
        owner = Owner()
        for hook, method in zip(SIX_HOOKS, owner.methods(), strict=True):
            registry.add(hook, method)
        registry.dispatch(Hook.SUCCESS, 1)
        if explicit:
            registry.remove_owner(owner)

    results = {}
    for explicit in (True, False):
        tracemalloc.start()
        try:
            for _ in range(warmup):
                cycle(explicit)
            # Slots holding ints of the reading's size: storing a reading replaces one int
            # by another, so the reading itself is not counted as growth.
            readings = [1 << 40, 1 << 40]
            gc.collect()
            readings[0] = tracemalloc.get_traced_memory()[0]
            for _ in range(cycles):
                cycle(explicit)
            gc.collect()
            readings[1] = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        results["remove_owner" if explicit else "drop"] = (readings[1] - readings[0]) / cycles
    return results
