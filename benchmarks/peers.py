"""The same receivers wired into each library, each fired by one zero-argument call."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import blinker
from psygnal import Signal

from lifecycle import CallbackRegistry, Hook

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
    fire = registry.dispatcher(Hook.SUCCESS)
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
        "lifecycle dispatch": lambda: registry.dispatch(success, PAYLOAD),
        "lifecycle dispatcher": lambda: fire(PAYLOAD),
        "psygnal": lambda: emitter.event.emit(PAYLOAD),
        "blinker": lambda: signal.send(PAYLOAD),
    }
