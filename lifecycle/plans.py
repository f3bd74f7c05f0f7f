"""Dispatch plans: what a hook calls, frozen into a tuple, and the loops that run it.

A plan is a tuple of ``(fn, ref)`` items, rebuilt (lazily, under the
registry's lock) after the hook's entries change, and read without a lock;
its ``entries`` attribute keeps the entries it was built from, for the rare
paths (deduplicating ``extra=``) that need them.
Running an item is always ``target = ref()`` then ``fn(target, *args)``, so
one loop serves every kind of callback:

- a weak bound method: ``ref`` is the owner's weak reference, ``fn`` the
  plain function, so no bound method is built per call;
- a strong callable (``strong_item``): a bound method is its function and a
  constant owner; anything else a constant and a C-level caller
  (``operator.call``), so no Python frame sits between loop and callback;
- everything else: ``ref`` returns the callable (or ``None`` once it, or its
  owner, died) and ``fn`` calls it.

Every loop, the C one of ``_speedups`` included, hands an ``Exception`` to
``report_failure(fn, target, error)`` and a non-``None`` result to
``discard_awaitable(fn, target, result)``: the contract's policy lives here.

The synchronous loops are generated from one template for zero to four
positional arguments, because ``fn(target, a, b)`` is about twice as fast as
``fn(target, *args, **kwargs)`` on CPython. ``ref`` is a plain
``weakref.ref`` (a subclass would be slower to call), and the error paths
name the callback from ``(fn, target)`` rather than carrying an entry in
every item.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import operator
import sys
import types
from collections.abc import Callable, Iterable
from typing import Any

from lifecycle.entries import CALLABLE, LOGGER, METHOD, NAME, Entry, Getter, constant, describe
from lifecycle.hooks import Hook
from lifecycle.integrations import LOGGER_METHODS, CustomLogger

log = logging.getLogger("lifecycle")

Item = tuple[Callable[..., Any], Getter]


class Plan(tuple):  # type: ignore[type-arg]
    """The items of one hook's dispatch, and the entries they came from."""

    entries: tuple[Entry, ...] = ()


Resolver = Callable[[str], CustomLogger | None]


class Unresolved(Exception):
    """Raised by a name entry whose integration is unknown: skipped, not counted."""


def call_target(target: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn`` of an item whose ``ref`` returns the callable itself: call it."""
    return target(*args, **kwargs)


#: The C-level ``fn(target, *args) -> target(*args)`` of 3.11+ (3.10 has none; see ``strong_item``).
_CALL: Callable[..., Any] = getattr(operator, "call", call_target)


def _caller_of(callback: Callable[..., Any]) -> Callable[..., Any]:
    """The fastest ``fn`` with ``fn(callback, *args) == callback(*args)``.

    ``operator.call`` on 3.11+. On 3.10, the type's C ``__call__`` slot
    wrapper (a function's, a partial's, a builtin's), called with the callable
    first, measured 1.4x faster than the Python ``call_target``; it is used
    only when it is exactly the type's C slot, so a ``__call__`` that is a
    staticmethod or a Python function keeps ``call_target``.
    """
    if _CALL is not call_target:
        return _CALL
    if not isinstance(callback, (types.FunctionType, types.BuiltinFunctionType, functools.partial)):
        return call_target
    slot = type(callback).__dict__.get("__call__")
    if isinstance(slot, types.WrapperDescriptorType):
        return slot
    return call_target


def strong_item(callback: Callable[..., Any]) -> Item:
    """The plan item of a strongly held callable: no Python frame between the loop and the callback.

    A bound method becomes ``(function, constant(self))``, like a weak one
    whose owner cannot die; anything else ``(caller, constant(callback))``.
    """
    if type(callback) is types.MethodType:
        return callback.__func__, constant(callback.__self__)
    return _caller_of(callback), constant(callback)


def is_caller(fn: object) -> bool:
    """Whether an item's ``fn`` calls its target (so the target names the callback)."""
    return fn is call_target or fn is _CALL or isinstance(fn, types.WrapperDescriptorType)


class _Gated:
    """Returns the callable only while its owner is alive."""

    __slots__ = ("getter", "owner_ref")

    def __init__(self, getter: Getter, owner_ref: Getter) -> None:
        self.getter = getter
        self.owner_ref = owner_ref

    def __call__(self) -> Any:
        return None if self.owner_ref() is None else self.getter()


class _BoundLater:
    """Returns ``getattr(obj, name)`` while the weakly held ``obj`` is alive."""

    __slots__ = ("attribute", "obj_ref")

    def __init__(self, obj_ref: Getter, attribute: str) -> None:
        self.obj_ref = obj_ref
        self.attribute = attribute

    def __call__(self) -> Any:
        obj = self.obj_ref()
        return None if obj is None else getattr(obj, self.attribute)


class NamedIntegration:
    """Calls one event method of the integration a name resolves to.

    A registry resolves a name once and keeps the instance for its life
    (``ResolvedIntegrations``), so the bound event method is kept after the
    first resolution: later dispatches skip the lookup.
    """

    __slots__ = ("bound", "method", "name", "resolve")

    def __init__(self, resolve: Resolver, name: str, method: str) -> None:
        self.resolve = resolve
        self.name = name
        self.method = method
        self.bound: Callable[..., Any] | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        bound = self.bound
        if bound is None:
            logger = self.resolve(self.name)
            if logger is None:
                raise Unresolved(self.name)
            bound = self.bound = getattr(logger, self.method)
        return bound(*args, **kwargs)


def plan_item(entry: Entry, hook: Hook, resolve: Resolver) -> Item | None:
    """The item that fires ``entry`` when ``hook`` is dispatched (``None``: nothing to call)."""
    kind = entry.kind
    if kind == METHOD and entry.func is not None:
        assert entry.owner_anchor is not None
        return entry.func, entry.owner_anchor.ref
    fn: Callable[..., Any] = call_target
    getter: Getter
    if kind in (NAME, LOGGER):
        method = LOGGER_METHODS.get(hook)
        if method is None:
            return None  # an integration has no event for a direct CALLBACKS dispatch
        if kind == NAME:
            fn, getter = strong_item(NamedIntegration(resolve, str(entry.strong), method))
        elif entry.strong is not None:
            fn, getter = strong_item(getattr(entry.strong, method))
        else:
            assert entry.target_anchor is not None
            getter = _BoundLater(entry.target_anchor.ref, method)
    else:
        assert kind in (CALLABLE, METHOD)
        if entry.strong is not None:
            fn, getter = strong_item(entry.strong)  # type: ignore[arg-type]
        else:
            assert entry.target_anchor is not None
            getter = entry.target_anchor.ref
    if entry.owner_anchor is not None and kind != METHOD:
        getter = _Gated(getter, entry.owner_anchor.ref)
    return fn, getter


def build_plan(entries: Iterable[Entry], hook: Hook, resolve: Resolver) -> Plan:
    kept = []
    items = []
    for entry in entries:
        item = plan_item(entry, hook, resolve)
        if item is not None:
            kept.append(entry)
            items.append(item)
    plan = Plan(items)
    plan.entries = tuple(kept)
    return plan


def callback_name(fn: Callable[..., Any], target: object) -> str:
    """Name the callback an item called: ``fn(target, ...)``."""
    if not is_caller(fn):
        return describe(types.MethodType(fn, target))  # a bound method: target is its owner
    if isinstance(target, NamedIntegration):
        return f"integration {target.name!r} ({target.method})"
    return describe(target)


def report_failure(fn: Callable[..., Any], target: object, error: Exception) -> None:
    """Log the exception of the callback ``fn(target, ...)``; dispatch goes on with the next one.

    The one error path of every loop, the C one included: it never lets an
    ``Exception`` out (a failure to name or log the callback is itself
    reported, barely), so isolation never depends on the logging setup.
    """
    try:
        log.error(
            "callback %s raised during dispatch",
            callback_name(fn, target),
            exc_info=(type(error), error, error.__traceback__),
        )
    except Exception:
        _last_resort("report a callback's exception")


def discard_awaitable(fn: Callable[..., Any], target: object, result: object) -> None:
    """A sync dispatch got a non-None result: close an awaitable (no 'never awaited' noise) and say why.

    The one result path of every sync loop, the C one included; it never
    lets an ``Exception`` out.
    """
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
    except Exception:
        _last_resort("discard an awaitable")


def _last_resort(what: str) -> None:
    """Say on stderr that a guard fired, without anything that could raise again."""
    with contextlib.suppress(Exception):  # a closed stderr: nothing is left to tell
        sys.stderr.write(f"lifecycle: could not {what} during dispatch: {sys.exc_info()[1]!r}\n")


_LOOP_TEMPLATE = '''
def run_{arity}(plan, args{params}):{unpack}
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
'''


def _generate_loops() -> tuple[list[Callable[..., int]], Callable[..., int]]:
    namespace: dict[str, Any] = {
        "Unresolved": Unresolved,
        "report_failure": report_failure,
        "discard_awaitable": discard_awaitable,
    }
    for arity in range(5):
        names = "".join(f", a{index}" for index in range(arity))
        unpack = f"\n    {names[2:]}, = args" if arity else ""
        exec(_LOOP_TEMPLATE.format(arity=arity, params="", unpack=unpack, args=names), namespace)
    exec(_LOOP_TEMPLATE.format(arity="any", params=", kwargs", unpack="", args=", *args, **kwargs"), namespace)
    return [namespace[f"run_{arity}"] for arity in range(5)], namespace["run_any"]


#: ``FIXED_ARITY[n](plan, args)`` runs a plan with the n positional arguments in ``args``
#: (unpacked inside, which is cheaper than building ``(plan, *args)`` for the call).
FIXED_ARITY, run_any = _generate_loops()


async def arun(plan: Iterable[Item], args: tuple[Any, ...], kwargs: dict[str, Any], concurrent: bool) -> int:
    """Run a plan, awaiting what callbacks return: one after another, or together."""
    called = 0
    pending: list[tuple[Callable[..., Any], object, Any]] = []
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
        if not inspect.isawaitable(result):
            continue
        if concurrent:
            pending.append((fn, target, result))
            continue
        try:
            await result
        except Exception as error:
            report_failure(fn, target, error)
    if pending:
        outcomes = await asyncio.gather(*(awaitable for _, _, awaitable in pending), return_exceptions=True)
        for (fn, target, _), outcome in zip(pending, outcomes, strict=True):
            if isinstance(outcome, Exception):
                report_failure(fn, target, outcome)
            elif isinstance(outcome, BaseException):
                raise outcome
    return called
