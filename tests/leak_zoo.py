"""Leaks of several kinds, and look-alikes that must not be called leaks.

Each builder returns the object one cycle builds; the tests run them through
``leakcheck.check`` and read the verdict and the explanation.
"""

from __future__ import annotations

import collections
import functools
import logging
from typing import Any, ClassVar

from lifecycle import CallbackRegistry


class Widget:
    """The object every builder makes: a callback owner, as in the router."""

    def __init__(self) -> None:
        self.payload = [0] * 8

    def on_event(self, *args: Any) -> None:
        pass


# -- leaks -------------------------------------------------------------------------------

CALLBACKS: list[Any] = []


def bound_method_in_a_list() -> Widget:
    widget = Widget()
    CALLBACKS.append(widget.on_event)
    return widget


HANDLERS: list[Any] = []


def closure_capturing_its_owner() -> Widget:
    widget = Widget()
    HANDLERS.append(lambda *args: widget.on_event(*args))
    return widget


class Cached(Widget):
    @functools.cache  # noqa: B019 - the leak on display
    def compute(self, value: int) -> int:
        return value * 2


def lru_cache_on_a_method() -> Cached:
    widget = Cached()
    widget.compute(1)
    return widget


class SelfRegistering(Widget):
    instances: ClassVar[list[SelfRegistering]] = []

    def __init__(self) -> None:
        super().__init__()
        SelfRegistering.instances.append(self)


def class_attribute_list() -> SelfRegistering:
    return SelfRegistering()


class RecordKeeper(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


zoo_log = logging.getLogger("leak_zoo")
zoo_log.propagate = False
zoo_log.setLevel(logging.DEBUG)
KEEPER = RecordKeeper()
zoo_log.addHandler(KEEPER)


def log_record_keeping_its_args() -> Widget:
    widget = Widget()
    zoo_log.debug("built %s", widget)
    return widget


ERRORS: list[BaseException] = []


def _fail_with(widget: Widget) -> None:
    raise RuntimeError("while holding a widget")


def stored_exception_traceback() -> Widget:
    widget = Widget()
    try:
        _fail_with(widget)
    except RuntimeError as error:
        ERRORS.append(error)
    return widget


def _remember(widget: Widget, seen: list[Widget] = []) -> None:  # noqa: B006 - the leak on display
    seen.append(widget)


def mutable_default_argument() -> Widget:
    widget = Widget()
    _remember(widget)
    return widget


HISTORY: list[str] = []


def slow_leak_of_plain_data() -> Widget:
    HISTORY.append(f"request #{len(HISTORY)} served")  # a str: the collector never sees it
    return Widget()


class Point:
    __slots__ = ("__weakref__", "x", "y")

    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y


TRAIL: list[Point] = []


def slow_leak_of_small_objects() -> Widget:
    TRAIL.append(Point(len(TRAIL), 0))
    return Widget()


LEAKS = {
    "bound method in a list": (bound_method_in_a_list, "leak_zoo.CALLBACKS[", "__self__"),
    "closure": (closure_capturing_its_owner, "leak_zoo.HANDLERS[", "closure variable 'widget'"),
    "lru_cache on a method": (lru_cache_on_a_method, "leak_zoo.Cached.compute", "lru_cache"),
    "class attribute list": (class_attribute_list, "leak_zoo.SelfRegistering.instances[", "SelfRegistering"),
    "log records": (log_record_keeping_its_args, ".records[", ".args[0]"),
    "stored traceback": (stored_exception_traceback, "leak_zoo.ERRORS[", "tb_frame"),
    "mutable default": (mutable_default_argument, "__defaults__[0]", "Widget"),
    "small objects": (slow_leak_of_small_objects, "leak_zoo.TRAIL[", "Point"),
}


# -- look-alikes -------------------------------------------------------------------------

REGISTRY = CallbackRegistry(max_callbacks=1000, name="zoo")


def weak_registration() -> Widget:
    widget = Widget()
    REGISTRY.add("success", widget.on_event)
    REGISTRY.dispatch("success")
    return widget


RECENT: collections.deque[Widget] = collections.deque(maxlen=3)


def bounded_cache() -> Widget:
    widget = Widget()
    RECENT.append(widget)
    return widget


WARM: dict[int, Widget] = {}


def warm_up_growth() -> Widget:
    widget = Widget()
    if len(WARM) < 2:  # fills during warm-up, then never again
        WARM[len(WARM)] = widget
    return widget


SAW: list[Widget] = []


def sawtooth() -> Widget:
    widget = Widget()
    SAW.append(widget)
    if len(SAW) >= 4:
        SAW.clear()
    return widget


class Cyclic(Widget):
    def __init__(self) -> None:
        super().__init__()
        self.me = self
        self.children = [self, {"parent": self}]


def reference_cycles() -> Cyclic:
    return Cyclic()


class Finalized(Cyclic):
    def __del__(self) -> None:
        self.payload = []


def cycle_with_del() -> Finalized:
    return Finalized()


LOOK_ALIKES = {
    "weak registration": weak_registration,
    "bounded cache": bounded_cache,
    "warm-up growth": warm_up_growth,
    "sawtooth": sawtooth,
    "reference cycles": reference_cycles,
    "cycle with __del__": cycle_with_del,
}
