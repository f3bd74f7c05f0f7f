"""Dispatch plans: what a hook calls, frozen into a tuple, and the loops that run it.

A plan is a tuple of ``(fn, ref)`` items, built from a hook's entries after
they change (outside the registry's lock: building one looks up logger
methods, which is user code) and read without a lock. Running an item is
always ``target = ref()`` then ``fn(target, *args)``, so one loop serves
every kind of callback:

- a weak bound method: ``ref`` is the owner's weak reference, ``fn`` the
  plain function, so no bound method is built per call;
- a strong callable (``entries.strong_item``): a bound method is its function
  and a constant owner; anything else a constant and a C-level caller
  (``operator.call``), so no Python frame sits between loop and callback;
- everything else: ``ref`` returns the callable (or ``None`` once it, or its
  owner, died) and ``fn`` is ``operator.call``.

Every loop, the C one of ``_speedups`` included, hands an ``Exception`` to
``report_failure(fn, target, error)`` and a non-``None`` result to
``discard_awaitable(fn, target, result)``: the contract's policy lives here.

The synchronous loops are generated from one template for zero to four
positional arguments, because ``fn(target, a, b)`` is about twice as fast as
``fn(target, *args, **kwargs)`` on CPython; their source is registered with
``linecache`` under a real file name, so a traceback through them shows the
lines. Isolation is total: whatever a callback is, raises or returns, the
loop goes on to the next one; only ``BaseException`` (``KeyboardInterrupt``,
``SystemExit``) stops it, as it should.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import linecache
import logging
import textwrap
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from lifecycle.entries import (  # noqa: F401 - call_target, strong_item: the loops' contract, for tests
    CALL,
    Entry,
    Item,
    NamedIntegration,
    Resolver,
    Unresolved,
    call_target,
    is_caller,
    strong_item,
)
from lifecycle.hooks import Hook
from lifecycle.naming import describe, describe_method

log = logging.getLogger("lifecycle")


class Plan(tuple):  # type: ignore[type-arg]
    """The items of one hook's dispatch, and the entries they came from."""

    entries: tuple[Entry, ...] = ()


def build_plan(entries: Iterable[Entry], hook: Hook, resolve: Resolver) -> Plan:
    """The plan of ``entries``; an entry whose item cannot be built is left out and logged."""
    kept = []
    items = []
    for entry in entries:
        try:
            item = entry.item(hook, resolve)
        except Exception as error:  # a logger whose event attribute raises: skip it, say so
            report_failure(CALL, entry.target(), error, "while preparing its dispatch")
            continue
        if item is not None:
            kept.append(entry)
            items.append(item)
    plan = Plan(items)
    plan.entries = tuple(kept)
    return plan


def callback_name(fn: Callable[..., Any], target: object) -> str:
    """Name the callback an item called, ``fn(target, ...)``; never raises."""
    try:
        if not is_caller(fn):
            return describe_method(fn, target)  # a bound method's parts: target is its owner
        if type(target) is NamedIntegration:
            return f"integration {target.name!r} ({target.method})"
        return describe(target)
    except Exception:
        return f"a callback at {id(target):#x}"


def report_failure(fn: Callable[..., Any], target: object, error: Exception, during: str = "during dispatch") -> None:
    """Log a callback's exception; never raises an ``Exception`` itself, so dispatch goes on."""
    exc_info = (type(error), error, error.__traceback__)
    with contextlib.suppress(Exception):  # a failing handler or formatter is logging's problem, not the caller's
        log.error("callback %s raised %s", callback_name(fn, target), during, exc_info=exc_info)


def discard_awaitable(fn: Callable[..., Any], target: object, result: object) -> None:
    """A sync dispatch got an awaitable: close it (no 'never awaited' noise) and say why."""
    try:
        if not inspect.isawaitable(result):
            return
        close = getattr(result, "close", None)
        if close is not None:
            close()
        log.warning(
            "callback %s returned an awaitable during a synchronous dispatch; it was not "
            "run: register it on an async hook and use adispatch()",
            callback_name(fn, target),
        )
    except Exception as error:  # the result's __class__ or close() raised: the callback's fault
        report_failure(fn, target, error, "through what it returned")


#: The dispatch loop, written once: ``{args}`` is how each callback is called (``, a0, a1``).
#: ``plans`` wraps it in one function per arity; ``dispatchers`` inlines it into ``dispatch``.
LOOP_BODY = """\
called = len(plan)
for fn, ref in plan:
    target = ref()
    if target is None:
        called -= 1
        continue
    try:
        result = fn(target{args})
    except Unresolved:
        called -= 1
        continue
    except Exception as error:
        report_failure(fn, target, error)
        continue
    if result is not None:
        discard_awaitable(fn, target, result)
return called
"""

#: What generated code needs besides builtins.
LOOP_NAMESPACE: dict[str, Any] = {
    "Unresolved": Unresolved,
    "report_failure": report_failure,
    "discard_awaitable": discard_awaitable,
}


def generate(source: str, filename: str, namespace: dict[str, Any]) -> dict[str, Any]:
    """Run generated ``source`` as if from ``filename``, registered with ``linecache``.

    So a traceback through generated code shows its lines, not ``File "<string>"``
    (attrs does the same for the methods it writes).
    """
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)
    return namespace


def _loop(header: str, args: str, indent: int) -> str:
    return header + textwrap.indent(LOOP_BODY.format(args=args), " " * indent)


#: The file name of the generated per-arity loops.
LOOPS_FILENAME = "<lifecycle generated dispatch loops>"


def _generate_loops() -> tuple[list[Callable[..., int]], Callable[..., int]]:
    sources = []
    for arity in range(5):
        names = "".join(f", a{index}" for index in range(arity))
        unpack = f"\n    {names[2:]}, = args" if arity else ""
        sources.append(_loop(f"def run_{arity}(plan, args):{unpack}\n", names, 4))
    sources.append(_loop("def run_any(plan, args, kwargs):\n", ", *args, **kwargs", 4))
    namespace = generate("\n\n".join(sources), LOOPS_FILENAME, dict(LOOP_NAMESPACE))
    return [namespace[f"run_{arity}"] for arity in range(5)], namespace["run_any"]


#: ``FIXED_ARITY[n](plan, args)`` runs a plan with the n positional arguments in ``args``
#: (unpacked inside, which is cheaper than building ``(plan, *args)`` for the call).
FIXED_ARITY, run_any = _generate_loops()


async def _settle(fn: Callable[..., Any], target: object, awaitable: Awaitable[Any]) -> None:
    """Await one callback's result; an ``Exception`` (a future of another loop too) is logged."""
    try:
        await awaitable
    except Exception as error:
        report_failure(fn, target, error, "while awaited")


def _awaitable_or_none(fn: Callable[..., Any], target: object, result: object) -> Awaitable[Any] | None:
    """``result`` if it can be awaited; a result that cannot even say so is the callback's failure."""
    try:
        return result if inspect.isawaitable(result) else None
    except Exception as error:  # a result whose __class__ raises
        report_failure(fn, target, error, "through what it returned")
        return None


async def arun(plan: Iterable[Item], args: tuple[Any, ...], kwargs: dict[str, Any], concurrent: bool) -> int:
    """Run a plan, awaiting what callbacks return: one after another, or together.

    Each result is awaited inside ``_settle``, which logs its ``Exception``:
    so ``gather`` never fails early (a future of another loop included) and
    leaves no coroutine un-awaited; a ``BaseException`` still propagates,
    after the others finished.
    """
    called = 0
    pending: list[Awaitable[None]] = []
    for fn, ref in plan:
        target = ref()
        if target is None:
            continue
        try:
            result = fn(target, *args, **kwargs)
        except Unresolved:
            continue
        except Exception as error:
            report_failure(fn, target, error)
            result = None
        called += 1
        awaitable = None if result is None else _awaitable_or_none(fn, target, result)
        if awaitable is None:
            continue
        if concurrent:
            pending.append(_settle(fn, target, awaitable))
        else:
            await _settle(fn, target, awaitable)
    if pending:
        outcomes = await asyncio.gather(*pending, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
    return called
