"""Threads, garbage collection inside the registry's own methods, and memory over many cycles."""

from __future__ import annotations

import gc
import itertools
import random
import sys
import threading
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

from lifecycle import CallbackRegistry, Hook

CLOCK = itertools.count()


class Subscriber:
    def __init__(self, record: list[int], cyclic: bool = False) -> None:
        self.record = record
        if cyclic:
            self.cycle = [self]

    def on_success(self, token: int) -> None:
        self.record.append(token)

    def on_failure(self, token: int) -> None:
        self.record.append(-token)


@pytest.fixture
def fast_switching() -> Iterator[None]:
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


@pytest.fixture
def collect_constantly() -> Iterator[None]:
    threshold = gc.get_threshold()
    gc.set_threshold(1, 1, 1)
    yield
    gc.set_threshold(*threshold)
    gc.collect()


def assert_empty(registry: CallbackRegistry) -> None:
    for _ in range(3):
        gc.collect()
    stats = registry.stats()
    assert len(registry) == 0 and stats.owners == 0
    registry._check_invariants()  # with no entries, no anchor or key may be left either


def _worker(registry: CallbackRegistry, seed: int, rounds: int, lives: list[Any], dispatches: list[Any]) -> None:
    rng = random.Random(seed)
    alive: list[tuple[Subscriber, dict[str, Any]]] = []
    for _ in range(rounds):
        action = rng.random()
        if action < 0.35:
            life: dict[str, Any] = {"record": [], "removed_at": None}
            subscriber = Subscriber(life["record"], cyclic=rng.random() < 0.3)
            registry.add(Hook.SUCCESS, subscriber.on_success)
            registry.add(Hook.FAILURE, subscriber.on_failure)
            life["added_at"] = next(CLOCK)
            lives.append(life)
            alive.append((subscriber, life))
        elif action < 0.55 and alive:
            subscriber, life = alive.pop(rng.randrange(len(alive)))
            life["removed_at"] = next(CLOCK)
            if rng.random() < 0.5:
                registry.remove_owner(subscriber)
            del subscriber  # dropped: removed by its finalizer, or at the next collection
        elif action < 0.6:
            gc.collect()
        else:
            start = next(CLOCK)
            registry.dispatch(Hook.SUCCESS, start)
            dispatches.append((start, next(CLOCK)))
    for _, life in alive:
        life["removed_at"] = next(CLOCK)
    alive.clear()


@pytest.mark.usefixtures("fast_switching")
def test_eight_threads_register_dispatch_and_drop_at_once() -> None:
    registry = CallbackRegistry(max_callbacks=100_000)
    lives: list[dict[str, Any]] = []
    dispatches: list[tuple[int, int]] = []
    threads = [
        threading.Thread(target=_worker, args=(registry, seed, 400, lives, dispatches)) for seed in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert_empty(registry)
    assert len(lives) > 500 and len(dispatches) > 500
    checked = 0
    for life in lives:
        got = set(life["record"])
        for start, end in dispatches:
            if life["added_at"] < start and end < life["removed_at"]:
                assert start in got, "a live callback missed a dispatch that started after it was added"
                checked += 1
    assert checked > 1000
    stats = registry.stats()
    assert stats.added == 2 * len(lives) == stats.removed + stats.collected


@pytest.mark.usefixtures("collect_constantly")
def test_collections_inside_the_registrys_own_methods_lose_nothing() -> None:
    registry = CallbackRegistry(max_callbacks=10_000)
    rng = random.Random(7)
    keep: list[Subscriber] = []
    for round_ in range(300):
        # Owners that die only in cycles, so their finalizers fire from inside whatever
        # registry method happens to allocate when the collector runs.
        for _ in range(3):
            doomed = Subscriber([], cyclic=True)
            registry.add(Hook.SUCCESS, doomed.on_success)
            registry.add(Hook.CALLBACKS, doomed.on_failure)
            del doomed
        survivor = Subscriber([], cyclic=True)
        registry.add(Hook.SUCCESS, survivor.on_success)
        registry.add(Hook.FAILURE, survivor.on_failure)
        keep.append(survivor)
        if rng.random() < 0.3:
            registry.remove_owner(keep.pop(rng.randrange(len(keep))))
        registry.dispatch(Hook.SUCCESS, round_)
        registry.callbacks(Hook.SUCCESS)
        registry.stats()
    gc.collect()
    assert registry.count(Hook.SUCCESS) == len(keep) == registry.count(Hook.FAILURE)
    assert registry.count(Hook.CALLBACKS) == 0
    assert registry.stats().owners == len(keep)
    assert registry.dispatch(Hook.SUCCESS, -1) == len(keep)
    assert all(kept.record[-1] == -1 for kept in keep)
    del survivor
    keep.clear()
    assert_empty(registry)


@pytest.mark.usefixtures("collect_constantly", "fast_switching")
def test_threads_and_constant_collections_together() -> None:
    registry = CallbackRegistry(max_callbacks=100_000)
    lives: list[dict[str, Any]] = []
    dispatches: list[tuple[int, int]] = []
    threads = [
        threading.Thread(target=_worker, args=(registry, 100 + seed, 150, lives, dispatches)) for seed in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert_empty(registry)
    for life in lives:
        got = set(life["record"])
        missed = [s for s, e in dispatches if life["added_at"] < s and e < life["removed_at"] and s not in got]
        assert missed == []


def test_twenty_thousand_build_drop_cycles_do_not_grow_memory() -> None:
    registry = CallbackRegistry()

    def cycle() -> None:
        subscriber = Subscriber([])
        registry.add(Hook.SUCCESS, subscriber.on_success)
        registry.add(Hook.FAILURE, subscriber.on_failure)
        registry.dispatch(Hook.SUCCESS, 1)

    for _ in range(2000):
        cycle()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(20_000):
            cycle()
        gc.collect()
        len(registry)  # deaths are applied at the registry's next call: let the last one be
        growth = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert growth < 4 * 1024, f"grew {growth} bytes over 20,000 cycles"
    assert len(registry) == 0 and registry.stats().collected == 2 * 22_000
