"""Re-entry from the registry's own thread: finalizers and ``__del__`` that call the registry (issue 8).

The collector can run at any allocation inside ``add``, ``remove_owner``,
``clear`` or a plan rebuild, and the registry itself drops the last reference
to a strong callback inside ``clear()``, ``remove()`` or an owner's teardown.
Code that runs then (``__del__``, ``weakref.finalize``) and calls the registry
must neither block (it would wait forever for a lock its own thread holds)
nor lose its change: a re-entrant change takes effect no later than when the
interrupted call returns. Each scenario runs in a child interpreter, because
the failure it looks for is a hang, under the default collector thresholds
and under ``(1, 1, 1)``, where a collection runs at almost every allocation.
"""

from __future__ import annotations

import functools
import gc
import sys
import weakref
from collections.abc import Callable
from typing import Any

import pytest

from lifecycle import CallbackRegistry, Hook
from tests.child_process import run_child

#: Objects built per scenario: enough for the collector to strike inside registry methods many times.
ROUNDS = {"default": 20_000, "eager": 2_000}
#: Every KEEP-th object is kept alive, so the final state has something to agree with.
KEEP = 500


def settle() -> None:
    for _ in range(3):
        gc.collect()


def set_thresholds(thresholds: str) -> None:
    if thresholds == "eager":
        gc.set_threshold(1, 1, 1)


def check_state(registry: CallbackRegistry) -> None:
    """The registry's own consistency check, and the public counts agreeing with each other."""
    gc.set_threshold(700, 10, 10)
    settle()
    registry._check_invariants()  # type: ignore[attr-defined]
    stats = registry.stats()
    per_hook = {hook: registry.count(hook) for hook in Hook}
    assert len(registry) == sum(per_hook.values()) == stats.total
    for hook in Hook:
        assert len(registry.callbacks(hook)) == per_hook[hook] == stats.per_hook[hook.value], hook


def router_del(thresholds: str) -> None:
    """The issue's reproducer: a cyclic Router whose ``__del__`` calls ``remove_owner(self)``."""
    registry = CallbackRegistry(max_callbacks=10**6)
    deaths: list[int] = []

    class Router:
        def __init__(self) -> None:
            self.me = self
            registry.add("success", self.on)
            registry.add("failure", self.on)

        def on(self, *args: Any) -> None:
            pass

        def __del__(self) -> None:
            deaths.append(registry.remove_owner(self))

    rounds = ROUNDS[thresholds]
    kept = []
    set_thresholds(thresholds)
    for index in range(rounds):
        router = Router()
        if index % KEEP == 0:
            kept.append(router)
    del router
    check_state(registry)
    assert len(deaths) == rounds - len(kept), (len(deaths), rounds, len(kept))
    assert all(isinstance(removed, int) for removed in deaths)
    assert len(registry) == 2 * len(kept)
    assert registry.dispatch(Hook.SUCCESS, 1) == len(kept)
    assert registry.stats().owners == len(kept)
    print(f"router_del {thresholds}: {len(deaths)} __del__ called remove_owner")


def finalize_remove_owner(thresholds: str) -> None:
    """``weakref.finalize(conn, registry.remove_owner, handler)``, the connection in a cycle."""
    registry = CallbackRegistry(max_callbacks=10**6)
    handler_deaths = [0]

    class Handler:
        def on(self, *args: Any) -> None:
            pass

        def __del__(self) -> None:
            handler_deaths[0] += 1

    class Connection:
        def __init__(self) -> None:
            self.me = self

    rounds = ROUNDS[thresholds]
    kept = []
    set_thresholds(thresholds)
    for index in range(rounds):
        handler = Handler()
        registry.add(Hook.SUCCESS, handler.on)
        registry.add(Hook.FAILURE, handler.on)
        connection = Connection()
        weakref.finalize(connection, registry.remove_owner, handler)
        if index % KEEP == 0:
            kept.append(connection)
    del handler, connection
    check_state(registry)
    assert handler_deaths[0] == rounds - len(kept), (handler_deaths[0], rounds, len(kept))
    assert len(registry) == 2 * len(kept)
    assert registry.dispatch(Hook.FAILURE) == len(kept)
    print(f"finalize_remove_owner {thresholds}: {handler_deaths[0]} finalizers called remove_owner")


def del_reads(thresholds: str) -> None:
    """A cyclic owner whose ``__del__`` reads ``len``, ``count``, ``callbacks`` and ``stats``."""
    registry = CallbackRegistry(max_callbacks=10**6)
    seen: list[tuple[int, int, int, int]] = []

    class Watcher:
        def __init__(self) -> None:
            self.me = self
            registry.add(Hook.SUCCESS, self.on)

        def on(self, *args: Any) -> None:
            pass

        def __del__(self) -> None:
            # callbacks() costs as much as the hook is long: read it on every 16th death only
            live = len(registry.callbacks(Hook.SUCCESS)) if len(seen) % 16 == 0 else 0
            seen.append((len(registry), registry.count(Hook.SUCCESS), registry.stats().total, live))

    rounds = ROUNDS[thresholds]
    kept = []
    set_thresholds(thresholds)
    for index in range(rounds):
        watcher = Watcher()
        if index % KEEP == 0:
            kept.append(watcher)
    del watcher
    check_state(registry)
    assert len(seen) == rounds - len(kept)
    for total, count, stats_total, live in seen:
        # one hook only: every count is the same count, read from one consistent state
        assert total == count == stats_total, (total, count, stats_total)
        assert live <= count
    assert len(registry) == len(kept)
    print(f"del_reads {thresholds}: {len(seen)} __del__ read the registry")


def noop(*args: Any) -> None:
    pass


def strong_callback_del(thresholds: str) -> None:
    """Strong callbacks whose ``__del__`` adds and removes, dropped by the registry itself.

    Each round registers two such callbacks: one tagged with an owner (it dies
    in the owner's teardown, the owner acyclic or cyclic in turn) and one that
    ``clear()`` drops. Each one, as it dies, adds a new SERVICE callback and
    removes its own INPUT "victim" (registered before it, so the outcome does
    not depend on the order in which finalizers nest).
    """
    registry = CallbackRegistry(max_callbacks=10**6)
    outcomes: list[tuple[bool, int]] = []

    class Owner:
        def __init__(self, cyclic: bool) -> None:
            if cyclic:
                self.me = self

    class Token:
        def __init__(self, serial: int) -> None:
            self.serial = serial
            self.victim = functools.partial(noop, "victim", serial)
            assert registry.add(Hook.INPUT, self.victim)

        def __call__(self, *args: Any) -> None:
            pass

        def __del__(self) -> None:
            was_added = registry.add(Hook.SERVICE, functools.partial(noop, "added", self.serial))
            outcomes.append((was_added, registry.remove(self.victim, Hook.INPUT)))

    rounds = ROUNDS[thresholds] // 2
    kept = []
    set_thresholds(thresholds)
    for index in range(rounds):
        owner = Owner(cyclic=index % 2 == 1)
        registry.add(Hook.SUCCESS, Token(2 * index), owner=owner)
        registry.add(Hook.FAILURE, Token(2 * index + 1))
        registry.clear(Hook.FAILURE)
        if index % KEEP == 0:
            kept.append(owner)
    del owner
    check_state(registry)
    assert len(outcomes) == 2 * rounds - len(kept), (len(outcomes), rounds, len(kept))
    assert all(was_added is True for was_added, _ in outcomes)
    assert all(removed in (0, 1) for _, removed in outcomes)
    assert registry.count(Hook.SERVICE) == len(outcomes), "an add made during a re-entry was lost"
    assert registry.count(Hook.INPUT) == len(kept), "a removal made during a re-entry was lost"
    assert registry.count(Hook.SUCCESS) == len(kept)
    assert registry.count(Hook.FAILURE) == 0
    assert registry.dispatch(Hook.SERVICE) == len(outcomes)
    print(f"strong_callback_del {thresholds}: {len(outcomes)} __del__ added and removed")


SCENARIOS: dict[str, Callable[[str], None]] = {
    "router_del": router_del,
    "finalize_remove_owner": finalize_remove_owner,
    "del_reads": del_reads,
    "strong_callback_del": strong_callback_del,
}


@pytest.mark.parametrize("thresholds", ["default", "eager"])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_registry_called_from_finalizers_never_hangs_and_agrees_with_what_is_alive(
    scenario: str, thresholds: str
) -> None:
    out = run_child(
        "from tests.test_reentry import main; main()",
        hang_after=20,
        args=(scenario, thresholds),
    )
    assert out.startswith(scenario), out


def main() -> None:
    SCENARIOS[sys.argv[1]](sys.argv[2])
