"""Signal handlers that call the registry (issue 8): never a hang, and the state agrees with what is alive.

A Python signal handler runs on the main thread between two bytecodes, so it
can interrupt the main thread in the middle of a registry change. A 100 us
interval timer fires a handler that calls ``add``, ``remove_owner``,
``dispatch`` or ``len`` while the main thread loops over the same calls. Each
variant runs in a child interpreter: on a registry that blocks on its own
thread, the first handler that lands inside a change hangs.
"""

from __future__ import annotations

import gc
import random
import signal
import time
from typing import Any

import pytest

from lifecycle import CallbackRegistry, Hook
from tests.child_process import run_child

pytestmark = pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="signal.setitimer is POSIX-only")

SECONDS = 0.8
INTERVAL = 0.0001


class Owner:
    def __init__(self, cyclic: bool = False) -> None:
        self.hits = {"loop": 0, "signal": 0}
        if cyclic:
            self.me = self

    def on(self, source: str = "loop") -> None:
        self.hits[source] += 1


def scenario(operation: str) -> None:
    registry = CallbackRegistry(max_callbacks=10**6)
    alive: list[Owner] = []  # the main loop's owners
    from_handler: list[Owner] = []  # the handler's owners, in registration order
    results: list[Any] = []
    handled = [0]

    def handler(signum: int, frame: Any) -> None:
        handled[0] += 1
        if operation in ("add", "remove_owner"):
            owner = Owner()
            from_handler.append(owner)
            results.append(registry.add(Hook.SERVICE, owner.on))
            if operation == "remove_owner" and len(from_handler) > 20:
                results.append(registry.remove_owner(from_handler.pop(0)))
        elif operation == "dispatch":
            results.append(registry.dispatch(Hook.SUCCESS, "signal"))
        else:
            enabled = gc.isenabled()  # a handler can run inside another: only the outermost re-enables
            gc.disable()  # no collection between the two queries: they must see the same state
            total, stats = len(registry), registry.stats()
            counts = {hook.value: registry.count(hook) for hook in Hook}
            if enabled:
                gc.enable()
            results.append((total, stats.total, counts, dict(stats.per_hook)))

    rng = random.Random(8)
    signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, INTERVAL, INTERVAL)
    deadline = time.monotonic() + SECONDS
    rounds = 0
    try:
        while time.monotonic() < deadline:
            owner = Owner(cyclic=rng.random() < 0.3)
            registry.add(Hook.SUCCESS, owner.on)
            registry.add(Hook.FAILURE, owner.on)
            alive.append(owner)
            if len(alive) > 50:
                victim = alive.pop(rng.randrange(len(alive)))
                if rng.random() < 0.5:
                    registry.remove_owner(victim)
                del victim
            registry.dispatch(Hook.SUCCESS)
            len(registry)
            rounds += 1
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0, 0)
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
    del owner
    for _ in range(3):
        gc.collect()

    assert handled[0] > 100, f"the handler ran only {handled[0]} times"
    registry._check_invariants()  # type: ignore[attr-defined]
    assert registry.count(Hook.SUCCESS) == registry.count(Hook.FAILURE) == len(alive)
    service = registry.callbacks(Hook.SERVICE)
    # the order is not promised: a queued change may land after a later direct one
    assert sorted(id(method.__self__) for method in service) == sorted(map(id, from_handler)), (
        f"a change made by the handler was lost: {len(service)} SERVICE callbacks, {len(from_handler)} expected"
    )
    assert len(registry) == 2 * len(alive) + len(from_handler) == registry.stats().total
    if operation == "add":
        assert results and all(result is True for result in results)
    elif operation == "remove_owner":
        assert any(result is True for result in results)
        assert all(result in (True, 0, 1) for result in results)
    elif operation == "dispatch":
        assert all(isinstance(result, int) and result >= 0 for result in results)
        assert sum(owner.hits["signal"] for owner in alive) > 0, "no dispatch from the handler called anything"
    else:
        assert results
        for total, stats_total, counts, per_hook in results:
            assert total == stats_total and counts == per_hook, (
                f"queries in one handler disagree: len {total}, stats().total {stats_total}, "
                f"count() {counts}, stats().per_hook {per_hook}"
            )
    print(f"{operation}: handler ran {handled[0]} times over {rounds} rounds")


@pytest.mark.parametrize("operation", ["add", "remove_owner", "dispatch", "len"])
def test_a_signal_handler_calling_the_registry_never_hangs(operation: str) -> None:
    out = run_child("from tests.test_signals import scenario; scenario(sys.argv[1])", hang_after=20, args=(operation,))
    assert out.startswith(f"{operation}: handler ran"), out
