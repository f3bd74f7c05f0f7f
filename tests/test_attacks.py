"""Attacks on the registry's promises: asynchronous exceptions, lost deaths, hostile objects.

Each test is a reproducer of a bug found by trying to hang, corrupt or
mislead the registry. The ones that can leave the process-wide lock held
run in a subprocess with a timeout, so a failure cannot hang the suite.
"""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from lifecycle import CallbackRegistry, CustomLogger


def run_script(source: str, timeout: float = 60) -> str:
    """Run ``source`` in a fresh interpreter; its stdout, or a failure showing what went wrong."""
    prelude = "import faulthandler\nfaulthandler.dump_traceback_later(%r, exit=True)\n" % (timeout - 5)
    result = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(source)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


class Owner:
    def on(self, *args: Any) -> None:
        pass

    def on_other(self, *args: Any) -> None:
        pass


#: Raises KeyboardInterrupt at the n-th trace event (of the kinds in EVENTS) in lifecycle's frames,
#: runs SCENARIO, and checks afterwards that the lock is free, the invariants hold and deaths
#: still remove entries. Prints one line per failing n.
SWEEP = """
import gc, os, sys, threading
import lifecycle
import lifecycle.registry as R
from lifecycle import CallbackRegistry, CustomLogger, Hook

HOME = os.path.dirname(lifecycle.__file__)
EVENTS = {events!r}

class Owner:
    def on(self, *args): pass
    def on_other(self, *args): pass

class Logger(CustomLogger):
    def __init__(self, n): self.n = n

def scenario(registry, keep):
    a, b = Owner(), Owner()
    keep += [a, b]
    registry.add("success", a.on); registry.add("failure", a.on_other); registry.add("callbacks", b.on)
    registry.add("success", Logger(1)); registry.add("service", print, owner=b)
    registry.dispatch("success", 1)
    registry.remove(a.on_other)
    registry.remove_by_type(Logger)
    registry.add("success", Owner().on)  # its owner dies at once
    len(registry); registry.callbacks("success")
    registry.remove_owner(b)
    registry.clear()

def run(n):
    registry, keep, count = CallbackRegistry(max_callbacks=5), [], [0]
    def hit(event):
        if event in EVENTS:
            count[0] += 1
            if count[0] == n:
                raise KeyboardInterrupt
    def local(frame, event, arg):
        hit(event)
        return local
    def tracer(frame, event, arg):
        if not frame.f_code.co_filename.startswith(HOME):
            return None
        hit(event)
        return local
    sys.settrace(tracer)
    try:
        scenario(registry, keep)
    except KeyboardInterrupt:
        pass
    finally:
        sys.settrace(None)
    return registry, keep, count[0]

total = run(-1)[2]
assert total > 50, total
for n in range(1, total + 1):
    registry, keep, _ = run(n)
    problems = []
    if R._owned():
        problems.append("the lock is still held by this thread")
        while R._owned():
            R._LOCK.release()
    answered = []
    other = threading.Thread(target=lambda: answered.append(len(registry)), daemon=True)
    other.start()
    other.join(10)
    if not answered:
        problems.append("another thread cannot complete a call")
    R._UNSETTLED.clear()
    try:
        registry._check_invariants()
        del keep[:]
        gc.collect()
        registry._check_invariants()
        for hook in Hook:
            for entry in registry._entries[hook].values():
                if entry.owner_anchor is not None and entry.owner() is None:
                    problems.append(f"an entry of a dead owner is left on {{hook.value}}")
    except AssertionError as error:
        problems.append(str(error))
    if problems:
        print(n, "; ".join(problems))
"""


@pytest.mark.parametrize("events", [("line",), ("call", "return")])
def test_an_asynchronous_exception_at_any_trace_event_corrupts_nothing(events: tuple[str, ...]) -> None:
    """KeyboardInterrupt at each line (and each call/return) of the registry's code in turn.

    Found: a line event at the ``try:`` right after ``with _LOCK:``, or at the
    ``with`` line again on the way out (where ``__exit__`` is called), lies
    outside every exception-table entry of the ``with`` block, so the lock
    stayed held and every later call from another thread hung; an exception
    inside ``_drop_anchor`` after it forgot the anchor left ``_repair`` putting
    the anchor back with the entries already removed.
    """
    out = run_script(SWEEP.format(events=set(events)), timeout=120)
    assert out == ""


def test_an_exception_inside_the_death_callback_does_not_lose_the_death() -> None:
    """An owner's death must remove its entries even if an exception lands in the weakref callback.

    Found: the callback was a Python function; an asynchronous exception (a
    signal handler's, here a tracer's) inside it was printed as "ignored" and
    the death never queued, so the entry outlived its owner forever: ``len``
    said 1 while ``callbacks`` said none, and a new owner reusing the dead
    one's ``id`` was refused as a "duplicate".
    """
    out = run_script(
        """
        import gc, sys
        import lifecycle
        from lifecycle import CallbackRegistry, CustomLogger

        registry = CallbackRegistry()
        class Owner:
            def on(self, *args): pass
        owner = Owner()
        registry.add("success", owner.on)
        HOME = lifecycle.__file__.rsplit("/", 1)[0]
        def tracer(frame, event, arg):
            if frame.f_code.co_filename.startswith(HOME):
                sys.settrace(None)
                raise KeyboardInterrupt
        sys.settrace(tracer)
        del owner
        sys.settrace(None)
        gc.collect()
        print(len(registry), len(registry.callbacks("success")))
        """
    )
    assert out.split()[:2] == ["0", "0"], out


def test_two_anchors_of_one_object_that_die_together_both_count() -> None:
    """A removal and a re-registration of the same owner, settled in one go, then its death.

    The forgotten anchor (kept until the lock is released) and the new one
    watch the same object in the same table slot; both weak references fire
    when it dies. The death of the new one must not be lost (it was, when
    deaths were recorded by slot alone: the old reference's overwrote it).
    """
    import lifecycle.registry as registry_module

    registry = CallbackRegistry()
    owner = Owner()
    registry.add("success", owner.on)
    with registry_module._LOCK:  # as a finalizer running inside a registry call would
        registry.remove_owner(owner)  # queued: forgets the owner's anchor
        registry.add("failure", owner.on)  # queued: a new anchor in the same slot
        del owner  # the queued add holds the owner: it dies when that is applied
    len(registry)  # settles both
    gc.collect()
    assert len(registry) == 0
    registry._check_invariants()


def test_deaths_recorded_while_the_registry_settles_deaths_are_kept() -> None:
    """A collection inside the settle loop may record more deaths while it walks them.

    Found with a signal handler that built cyclic owners: ``list(deaths.items())``
    allocates, the collector ran there and freed owners, their weakref
    callbacks inserted into the dict being iterated, and the registry call
    raised ``RuntimeError: dictionary changed size during iteration``.
    """
    import lifecycle.registry as registry_module

    registry = CallbackRegistry(max_callbacks=1000)
    pool = [Owner() for _ in range(300)]
    for owner in pool:
        registry.add("success", owner.on)
    del owner, pool[:100]  # deaths waiting to be settled

    def drop_one(phase: str, info: dict[str, Any]) -> None:
        if phase == "start" and registry_module._owned() and pool:
            pool.pop()  # dies now, inside whatever registry code allocated

    threshold = gc.get_threshold()
    gc.callbacks.append(drop_one)
    gc.set_threshold(1, 1, 1)
    try:
        len(registry)
    finally:
        gc.set_threshold(*threshold)
        gc.callbacks.remove(drop_one)
    assert len(registry) == len(pool)
    registry._check_invariants()


class ClassRaises:
    """A callable whose ``__class__`` raises, as a broken proxy's does."""

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        raise RuntimeError("__class__")

    def __call__(self, *args: Any) -> None:
        pass


class GetattrRaises:
    """A callable whose ``__getattr__`` raises for every missing name (``__name__`` too)."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"no {name}")

    def __call__(self, *args: Any) -> None:
        pass


@pytest.mark.parametrize("kind", [ClassRaises, GetattrRaises])
def test_the_hook_choosing_add_methods_accept_what_add_accepts(kind: type) -> None:
    """``add_success_callback`` asks whether a callback is a coroutine function.

    Found: it asked with ``isinstance`` and ``inspect.iscoroutinefunction``,
    which read the object's ``__class__`` and attributes, so a callable that
    ``add("success", ...)`` registers fine made ``add_success_callback`` and
    ``add_failure_callback`` raise its ``RuntimeError``.
    """
    callback = kind()  # made here: pytest's parametrize inspects its values
    registry = CallbackRegistry()
    assert registry.add_success_callback(callback)
    assert registry.add_failure_callback(callback)
    assert registry.callbacks("success") == (callback,)
    assert registry.callbacks("failure") == (callback,)


def test_a_logger_attribute_that_lies_about_its_class_is_not_configuration() -> None:
    """The default integration key keeps attributes of primitive types, told by ``type()``.

    Found: it used ``isinstance``, which believes ``__class__``: a ``Mock(spec=int)``
    attribute passed as an int, then failed the exact-type rebuild, and ``add``
    raised a ``TypeError`` telling to fix a ``__callback_key__()`` the class
    does not have.
    """
    from unittest.mock import Mock

    class Integration(CustomLogger):
        def __init__(self, level: int) -> None:
            self.level = level
            self.client = Mock(spec=int)

    registry = CallbackRegistry()
    assert registry.add("success", Integration(1))
    assert not registry.add("success", Integration(1))  # a duplicate: same class and level
    assert registry.add("success", Integration(2))


def test_a_second_interrupt_during_the_repair_is_repaired_by_the_next_call() -> None:
    """Ctrl-C twice: the second lands while ``_repair`` rebuilds after the first.

    Found (with a tracer raising once in a change and once in the repair):
    a repair cut short left the derived tables wrong for good, since no later
    call repaired again: an owner's anchor missing from its table, keys
    indexed for removed entries.
    """
    registry = CallbackRegistry()
    owner = Owner()
    registry.add("success", owner.on)
    registry.add("success", owner.on_other)
    forget = registry._forget
    calls = []

    def forget_then_interrupt(anchor: Any) -> None:
        calls.append(anchor)
        if len(calls) == 2:  # mid-teardown: one entry removed, the owner's anchor already forgotten
            raise KeyboardInterrupt
        forget(anchor)

    def interrupted_repair() -> None:
        raise KeyboardInterrupt

    registry._forget = forget_then_interrupt  # type: ignore[method-assign]
    registry._repair = interrupted_repair  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        registry.remove_owner(owner)
    del registry._forget, registry._repair
    assert len(registry) == 1
    registry._check_invariants()
    assert registry.remove_owner(owner) == 1
    registry._check_invariants()
