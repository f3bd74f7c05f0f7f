"""The same receivers wired into each library, each fired by one zero-argument call."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import blinker
from psygnal import Signal

import lifecycle
from lifecycle import CallbackRegistry, Catalog, CustomLogger, Hook
from lifecycle.dispatchers import pure_dispatch, pure_dispatcher

PAYLOAD = {"model": "gpt-4o", "deployment": "openai/gpt-4o#0", "latency_ms": 12.5}


class Receiver:
    """A plain object whose bound method is the receiver: held weakly by every library."""

    def __init__(self) -> None:
        self.count = 0

    def on_event(self, payload: Any) -> None:
        self.count += 1


class BookkeepingReceiver(Receiver):
    """A receiver that does what the router's callbacks do: update per-deployment books."""

    def __init__(self) -> None:
        super().__init__()
        self.books: dict[str, list[float]] = {}

    def on_event(self, payload: Any) -> None:
        books = self.books.get(payload["deployment"])
        if books is None:
            books = self.books[payload["deployment"]] = [0, 0.0]
        books[0] += 1
        books[1] += payload["latency_ms"]


class _Emitter:
    event = Signal(object)


Fire = Callable[[], object]

#: The rows of each path; the compiled ones only where ``lifecycle._speedups`` runs.
COMPILED_ROWS = ("dispatch, compiled", "dispatcher, compiled")
PURE_ROWS = ("dispatch, pure", "dispatcher, pure")


def path_header() -> str:
    """Which path ``CallbackRegistry`` runs here, and which rows the run has."""
    if lifecycle.COMPILED:
        return "path: compiled (lifecycle._speedups); the pure-Python rows run the pure path beside it"
    return "path: pure Python (lifecycle._speedups not built or LIFECYCLE_PURE_PYTHON=1): no compiled rows"


def lifecycle_contenders(registry: CallbackRegistry, hook: Hook, payload: Any) -> dict[str, Fire]:
    """Dispatch and dispatcher on each path this interpreter has, for one registry.

    The pure path is run on the same registry: its ``dispatch`` and
    ``dispatcher`` are what ``CallbackRegistry`` uses when it is not compiled.
    """
    name = f"dispatch_{hook.value}"
    pure = pure_dispatcher(registry._sync_plans, hook, registry._rebuild, name)
    rows: dict[str, Fire] = {}
    if lifecycle.COMPILED:
        fire = registry.dispatcher(hook)
        rows[COMPILED_ROWS[0]] = lambda: registry.dispatch(hook, payload)
        rows[COMPILED_ROWS[1]] = lambda: fire(payload)
    rows[PURE_ROWS[0]] = lambda: pure_dispatch(registry, hook, payload)
    rows[PURE_ROWS[1]] = lambda: pure(payload)
    return rows


def wire(receivers: list[Receiver]) -> dict[str, Fire]:
    """Every contender, firing ``receivers`` with ``PAYLOAD``."""
    methods = [receiver.on_event for receiver in receivers]

    def bare_loop(payload: Any) -> None:
        for method in methods:
            method(payload)

    pairs = [(type(receiver).on_event, weakref.ref(receiver)) for receiver in receivers]

    def weakref_floor(payload: Any) -> None:
        # The least any loop over weakly held receivers can do: dereference and call.
        # No dead check, no isolation, no counting: a floor, not a usable dispatcher.
        for function, ref in pairs:
            function(ref(), payload)

    registry = CallbackRegistry(max_callbacks=max(30, len(receivers)), name="bench")
    for receiver in receivers:
        registry.add(Hook.SUCCESS, receiver.on_event)
    emitter = _Emitter()
    for receiver in receivers:
        emitter.event.connect(receiver.on_event)
    signal = blinker.Signal()
    for receiver in receivers:
        signal.connect(receiver.on_event)
    success = Hook.SUCCESS  # bound once, as a hot path would: member access costs ~0.1 us on 3.11
    return {
        "bare loop": lambda: bare_loop(PAYLOAD),  # called like the others: one call, one payload
        "weakref floor": lambda: weakref_floor(PAYLOAD),
        **lifecycle_contenders(registry, success, PAYLOAD),
        "psygnal": lambda: emitter.event.emit(PAYLOAD),
        "blinker": lambda: signal.send(PAYLOAD),
    }


class Integration(CustomLogger):
    """An integration object whose success event does a little work."""

    def __init__(self, name: str) -> None:
        self.name = name  # a public attribute: three integrations, three deduplication keys
        self.count = 0

    def log_success_event(self, *args: Any, **kwargs: Any) -> None:
        self.count += 1


def wire_realistic() -> dict[str, Fire]:
    """The hook a router's registry really fires: six weak bound methods, three integrations, one name.

    Against a bare loop over the same ten callables held strongly (for the
    name, the bound event method of the integration it resolves to).
    """
    receivers = [Receiver() for _ in range(6)]
    loggers = [Integration(f"integration-{index}") for index in range(3)]
    catalog = Catalog()
    catalog.register("audit", lambda: Integration("audit"))
    registry = CallbackRegistry(catalog=catalog, name="realistic")
    for receiver in receivers:
        registry.add(Hook.SUCCESS, receiver.on_event)
    for logger in loggers:
        registry.add(Hook.SUCCESS, logger)
    registry.add(Hook.SUCCESS, "audit")
    registry.dispatch(Hook.SUCCESS, PAYLOAD)  # resolves the name once, as the first real dispatch would
    resolved = registry._integrations.peek("audit")
    assert resolved is not None
    callables = [r.on_event for r in receivers] + [g.log_success_event for g in (*loggers, resolved)]

    def bare_loop(payload: Any) -> None:
        for method in callables:
            method(payload)

    return {"bare loop": lambda: bare_loop(PAYLOAD), **lifecycle_contenders(registry, Hook.SUCCESS, PAYLOAD)}


#: Callbacks in the realistic hook.
REALISTIC_SIZE = 10
