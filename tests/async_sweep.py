"""The line-by-line asynchronous-exception sweep (issue 8), run in a child interpreter.

A ``KeyboardInterrupt`` (or any exception a signal handler raises) can land
between any two lines of the registry's code. ``sweep(operation)`` runs one
operation again and again on a fresh registry, raising ``KeyboardInterrupt``
from a ``sys.settrace`` hook at the Nth 'line' event in the ``lifecycle``
package, for N = 1, 2, ... until the operation finishes without reaching
line N. After each interrupted run it checks what the issue promises: the
lock is free (another thread's calls complete), the registry's invariants
hold and its public counts agree, and every owner's (and weakly held
callable's) death still removes its entries, so nothing is half-inserted.

Automatic collection is off and everything alive before the sweep is frozen
(``gc.freeze()``), so each run is deterministic and collections are cheap.
This module imports no pytest: the child stays small.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import logging
import os
import sys
import threading
import traceback
from collections.abc import Callable
from types import FrameType
from typing import Any

import lifecycle
from lifecycle import CallbackRegistry, Catalog, CustomLogger, Hook

PACKAGE_DIR = os.path.dirname(os.path.abspath(lifecycle.__file__)) + os.sep
PROBE_TIMEOUT = 5.0


class Owner:
    def __init__(self, cyclic: bool = False) -> None:
        self.hits = 0
        if cyclic:
            self.me = self

    def on(self, *args: Any) -> None:
        self.hits += 1

    async def on_async(self, *args: Any) -> None:
        self.hits += 1


class Recorder(CustomLogger):
    def __init__(self, tag: str = "named") -> None:
        self.tag = tag


class Holder:
    """A strong callable that holds the last reference to another owner: its removal kills that owner."""

    def __init__(self, held: object) -> None:
        self.held = held

    def __call__(self, *args: Any) -> None:
        pass


def plain(*args: Any) -> None:
    pass


def other_plain(*args: Any) -> None:
    pass


def make_function() -> Callable[..., None]:
    def weakly_held(*args: Any) -> None:
        pass

    return weakly_held


class World:
    """A registry with one entry of every kind, each anchored to something the world can drop.

    ``max_callbacks=2``: SUCCESS is full (so an add there is refused).
    """

    def __init__(self, *, resolved: bool = True) -> None:
        self.catalog = Catalog()
        self.catalog.register("alpha", Recorder)
        self.registry = CallbackRegistry(catalog=self.catalog, name="swept", max_callbacks=2)
        self.owners = [Owner(), Owner(cyclic=True), Owner()]
        self.functions = [make_function(), make_function()]
        a, b, c = self.owners
        held = Owner()
        held_ref = held  # killed by the removal of the Holder below
        registry = self.registry
        assert registry.add(Hook.SUCCESS, a.on)
        assert registry.add(Hook.FAILURE, a.on)
        assert registry.add(Hook.CALLBACKS, b.on)
        assert registry.add(Hook.SERVICE, "alpha", owner=b)
        assert registry.add(Hook.INPUT, Recorder("x"), owner=a)
        assert registry.add(Hook.SUCCESS, plain, owner=b)
        assert registry.add(Hook.INPUT, self.functions[0], weak=True)
        assert registry.add(Hook.ASYNC_SUCCESS, b.on_async)
        assert registry.add(Hook.FAILURE, Holder(held_ref), owner=b)
        assert registry.add(Hook.SERVICE, held.on)
        del held, held_ref
        self.c = c
        if resolved:
            for hook in (Hook.INPUT, Hook.SUCCESS, Hook.FAILURE, Hook.SERVICE):
                registry.dispatch(hook)

    def drop_everything(self) -> None:
        self.owners.clear()
        self.functions.clear()
        self.c = None  # type: ignore[assignment]


def _run_async(world: World) -> None:
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(world.registry.adispatch(Hook.ASYNC_SUCCESS, 1))
    finally:
        loop.close()


def _kill_owner(world: World, index: int, collect: bool) -> None:
    """Drop an owner, then make the call that applies its death (deaths are queued, applied lazily)."""
    world.owners[index] = None  # type: ignore[call-overload]
    if collect:
        gc.collect()
    world.registry.remove(other_plain)


def _kill_function(world: World) -> None:
    world.functions[0] = None  # type: ignore[call-overload]
    len(world.registry)


def _queries(world: World) -> None:
    registry = world.registry
    len(registry)
    registry.count(Hook.SUCCESS)
    registry.callbacks(Hook.FAILURE)
    registry.stats()
    repr(registry)


#: name -> (world options, the operation run under the trace)
OPERATIONS: dict[str, tuple[dict[str, Any], Callable[[World], object]]] = {
    "add_bound_method": ({}, lambda w: w.registry.add(Hook.SERVICE, w.c.on)),
    "add_strong_with_owner": ({}, lambda w: w.registry.add(Hook.CALLBACKS, other_plain, owner=w.c)),
    "add_weak_callable": ({}, lambda w: w.registry.add(Hook.SERVICE, w.functions[1], weak=True)),
    "add_logger": ({}, lambda w: w.registry.add(Hook.CALLBACKS, Recorder("y"), owner=w.c)),
    "add_name": ({}, lambda w: w.registry.add(Hook.ASYNC_FAILURE, "alpha", owner=w.c)),
    "add_duplicate": ({}, lambda w: w.registry.add(Hook.FAILURE, w.owners[0].on)),
    "add_refused": ({}, lambda w: w.registry.add(Hook.SUCCESS, w.c.on)),
    "remove": ({}, lambda w: w.registry.remove(w.owners[0].on)),
    "remove_owner": ({}, lambda w: w.registry.remove_owner(w.owners[0])),
    "remove_owner_cascade": ({}, lambda w: w.registry.remove_owner(w.owners[1])),
    "remove_by_type": ({}, lambda w: w.registry.remove_by_type(Owner)),
    "remove_by_type_integration": ({}, lambda w: w.registry.remove_by_type(Recorder)),
    "clear": ({}, lambda w: w.registry.clear()),
    "clear_hook": ({}, lambda w: w.registry.clear(Hook.FAILURE)),
    "dispatch_rebuild": ({"resolved": False}, lambda w: w.registry.dispatch(Hook.SUCCESS, 1)),
    "dispatch_resolving_a_name": ({"resolved": False}, lambda w: w.registry.dispatch(Hook.SERVICE, 1)),
    "adispatch": ({}, _run_async),
    "owner_death": ({}, lambda w: _kill_owner(w, 0, collect=False)),
    "owner_death_collected": ({}, lambda w: _kill_owner(w, 1, collect=True)),
    "function_death": ({}, _kill_function),
    "queries": ({}, _queries),
}


class Injector:
    """A ``sys.settrace`` hook raising ``KeyboardInterrupt`` at the Nth line event in the package.

    Every line event counts, the two that CPython's exception tables leave
    unprotected included: the line of a bare ``try:`` (a ``NOP`` that no
    handler covers on 3.11+) and the second visit of a ``with`` line, after
    its body and before ``__exit__``. No real signal is delivered there on
    3.11+ (CPython bpo-29988), but the registry defends against both (see
    ``CallbackRegistry._under_lock``), so the sweep does not pass over them.
    """

    def __init__(self, target: int) -> None:
        self.target = target
        self.seen = 0
        self.where: str | None = None

    def __call__(self, frame: FrameType, event: str, arg: object) -> Any:
        return self.local if frame.f_code.co_filename.startswith(PACKAGE_DIR) else None

    def local(self, frame: FrameType, event: str, arg: object) -> Any:
        if event == "line":
            self.seen += 1
            if self.seen == self.target:
                code = frame.f_code
                self.where = f"{os.path.basename(code.co_filename)}:{frame.f_lineno} in {code.co_name}"
                raise KeyboardInterrupt(self.where)
        return self.local


def probe_from_another_thread(registry: CallbackRegistry) -> None:
    """Fail unless a second thread can add, dispatch, query and remove within PROBE_TIMEOUT."""
    errors: list[BaseException] = []

    def probe() -> None:
        try:
            owner = Owner()
            assert registry.add(Hook.ASYNC_FAILURE, owner.on_async) is True
            registry.dispatch(Hook.SERVICE)
            len(registry)
            registry.stats()
            assert registry.remove_owner(owner) == 1
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(PROBE_TIMEOUT)
    if thread.is_alive():
        frame = sys._current_frames().get(thread.ident or 0)
        stack = "".join(traceback.format_stack(frame)[-4:]) if frame is not None else "?"
        raise AssertionError(f"another thread's registry calls do not finish (a lock left held?); it is at:\n{stack}")
    if errors:
        raise AssertionError(f"another thread's registry calls failed: {errors[0]!r}") from errors[0]


def check_counts_agree(registry: CallbackRegistry) -> None:
    stats = registry.stats()
    counts = {hook: registry.count(hook) for hook in Hook}
    assert len(registry) == sum(counts.values()) == stats.total, (len(registry), counts, stats)
    for hook in Hook:
        assert stats.per_hook[hook.value] == counts[hook] == len(registry.callbacks(hook)), (hook, stats)
    registry._check_invariants()  # type: ignore[attr-defined]


def check(world: World) -> None:
    registry = world.registry
    probe_from_another_thread(registry)
    gc.collect()
    check_counts_agree(registry)
    assert registry.dispatch(Hook.SUCCESS) >= 0
    world.drop_everything()
    gc.collect()
    check_counts_agree(registry)
    stats = registry.stats()
    assert len(registry) == 0 and stats.owners == 0, (
        f"entries survived every owner's and weakly held callable's death: {stats}"
    )


def sweep(operation: str) -> int:
    """Interrupt ``operation`` at every line in turn; how many lines were swept."""
    options, run = OPERATIONS[operation]
    for target in itertools.count(1):
        world = World(**options)
        injector = Injector(target)
        sys.settrace(injector)
        try:
            run(world)
        except KeyboardInterrupt:
            if injector.where is None:
                raise
        finally:
            sys.settrace(None)
        try:
            check(world)
        except Exception as error:
            raise AssertionError(
                f"{operation}: after a KeyboardInterrupt at package line event {target} ({injector.where}): {error}"
            ) from error
        if injector.where is None:
            assert target > 3, f"{operation}: only {target - 1} lines traced: the trace missed the package"
            return target - 1
    raise AssertionError("unreachable")


def main(operations: list[str]) -> None:
    logging.getLogger("lifecycle").addHandler(logging.NullHandler())
    logging.getLogger("lifecycle").propagate = False
    # A KeyboardInterrupt in a weakref callback or __del__ is "unraisable": count it, but keep no
    # reference to it (its traceback would keep the frames' objects, and so the owners, alive).
    unraisable = [0]

    def count_unraisable(_: Any) -> None:
        unraisable[0] += 1

    sys.unraisablehook = count_unraisable
    gc.collect()
    gc.freeze()
    gc.disable()
    failed = []
    for operation in operations:
        try:
            lines = sweep(operation)
        except AssertionError as error:
            failed.append(operation)
            print(f"FAILED {error}")
        else:
            print(f"{operation}: swept {lines} lines")
    print(f"{unraisable[0]} interrupts were swallowed as unraisable (weakref callbacks, __del__)")
    if failed:
        sys.exit(f"{len(failed)} of {len(operations)} operations failed: {', '.join(failed)}")
