"""Dispatch plans: what a hook calls, frozen into a tuple, and the loops that run it.

A plan is a tuple of ``(fn, ref)`` items, rebuilt (lazily, under the
registry's lock) after the hook's entries change, and read without a lock;
its ``entries`` attribute keeps the entries it was built from, for the rare
paths (deduplicating ``extra=``) that need them.
Running an item is always ``target = ref()`` then ``fn(target, *args)``, so
one loop serves every kind of callback:

- a weak bound method: ``ref`` is the owner's weak reference, ``fn`` the
  plain function, so no bound method is built per call;
- everything else: ``ref`` returns the callable (or ``None`` once it, or its
  owner, died) and ``fn`` calls it.

The synchronous loops are generated from one template for zero to four
positional arguments, because ``fn(target, a, b)`` is about twice as fast as
``fn(target, *args, **kwargs)`` on CPython. ``ref`` is a plain
``weakref.ref`` (a subclass would be slower to call), and the error paths
name the callback from ``(fn, target)`` rather than carrying an entry in
every item.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
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
    return target(*args, **kwargs)


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
    """Calls one event method of the integration a name resolves to."""

    __slots__ = ("method", "name", "resolve")

    def __init__(self, resolve: Resolver, name: str, method: str) -> None:
        self.resolve = resolve
        self.name = name
        self.method = method

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        logger = self.resolve(self.name)
        if logger is None:
            raise Unresolved(self.name)
        return getattr(logger, self.method)(*args, **kwargs)


def plan_item(entry: Entry, hook: Hook, resolve: Resolver) -> Item | None:
    """The item that fires ``entry`` when ``hook`` is dispatched (``None``: nothing to call)."""
    kind = entry.kind
    if kind == METHOD and entry.func is not None:
        assert entry.owner_anchor is not None
        return entry.func, entry.owner_anchor.ref
    getter: Getter
    if kind in (NAME, LOGGER):
        method = LOGGER_METHODS.get(hook)
        if method is None:
            return None  # an integration has no event for a direct CALLBACKS dispatch
        if kind == NAME:
            getter = constant(NamedIntegration(resolve, str(entry.strong), method))
        elif entry.strong is not None:
            getter = constant(getattr(entry.strong, method))
        else:
            assert entry.target_anchor is not None
            getter = _BoundLater(entry.target_anchor.ref, method)
    else:
        assert kind in (CALLABLE, METHOD)
        if entry.strong is not None:
            getter = constant(entry.strong)
        else:
            assert entry.target_anchor is not None
            getter = entry.target_anchor.ref
    if entry.owner_anchor is not None and kind != METHOD:
        getter = _Gated(getter, entry.owner_anchor.ref)
    return call_target, getter


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
    if fn is not call_target:
        return describe(types.MethodType(fn, target))  # a weak bound method: target is its owner
    if isinstance(target, NamedIntegration):
        return f"integration {target.name!r} ({target.method})"
    return describe(target)


def report_failure(name: str, error: Exception) -> None:
    """Log a callback's exception; dispatch goes on with the next callback."""
    log.error("callback %s raised during dispatch", name, exc_info=(type(error), error, error.__traceback__))


def discard_awaitable(fn: Callable[..., Any], target: object, result: object) -> None:
    """A sync dispatch got an awaitable: close it (no 'never awaited' noise) and say why."""
    if inspect.isawaitable(result):
        close = getattr(result, "close", None)
        if close is not None:
            close()
        log.warning(
            "callback %s returned an awaitable during a synchronous dispatch; it was not "
            "run: register it on an async hook and use adispatch()",
            callback_name(fn, target),
        )


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
            report_failure(callback_name(fn, target), error)
            continue
        if result is not None:
            discard_awaitable(fn, target, result)
    return called
'''


def _generate_loops() -> tuple[list[Callable[..., int]], Callable[..., int]]:
    namespace: dict[str, Any] = {
        "Unresolved": Unresolved,
        "report_failure": report_failure,
        "callback_name": callback_name,
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
    pending: list[tuple[str, Any]] = []
    for fn, ref in plan:
        target = ref()
        if target is None:
            continue
        try:
            result = fn(target, *args, **kwargs)
        except Unresolved:
            continue
        except Exception as error:
            report_failure(callback_name(fn, target), error)
            result = None
        called += 1
        if not inspect.isawaitable(result):
            continue
        if concurrent:
            pending.append((callback_name(fn, target), result))
            continue
        try:
            await result
        except Exception as error:
            report_failure(callback_name(fn, target), error)
    if pending:
        outcomes = await asyncio.gather(*(awaitable for _, awaitable in pending), return_exceptions=True)
        for (name, _), outcome in zip(pending, outcomes, strict=True):
            if isinstance(outcome, Exception):
                report_failure(name, outcome)
            elif isinstance(outcome, BaseException):
                raise outcome
    return called
