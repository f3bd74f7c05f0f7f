"""Leaks of several kinds, and look-alikes that must not be called leaks.

Each builder returns the object one cycle builds; the tests run them through
``leakcheck.check`` and read the verdict and the explanation.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import concurrent.futures
import ctypes
import ctypes.util
import functools
import gc
import itertools
import logging
import os
import subprocess
import tempfile
import threading
import warnings
from collections.abc import Callable
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


# -- leaks beyond Python objects: fds, threads, tasks, children, native heap, process registries --

FD_TARGET = os.path.join(tempfile.gettempdir(), f"leak-zoo-{os.getpid()}.txt")


def _fd_target() -> str:
    if not os.path.exists(FD_TARGET):
        with open(FD_TARGET, "w") as target:
            target.write("an fd target\n")
    return FD_TARGET


class FileUser(Widget):
    """Opens a file descriptor and forgets it: nothing in Python refers to it any more."""

    def __init__(self) -> None:
        super().__init__()
        os.open(_fd_target(), os.O_RDONLY)


def fd_never_closed() -> FileUser:
    return FileUser()


def close_leaked_fds() -> None:
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == FD_TARGET:
                os.close(int(fd))
        except OSError:
            continue


STOP = threading.Event()


def _keepalive(stop: threading.Event) -> None:
    stop.wait()


def thread_never_stopped() -> Widget:
    threading.Thread(target=_keepalive, args=(STOP,), daemon=True).start()
    return Widget()


def stop_threads() -> None:
    STOP.set()
    for thread in threading.enumerate():
        if getattr(thread, "_target", None) is _keepalive:
            thread.join(timeout=10)
    STOP.clear()


_LOOP: asyncio.AbstractEventLoop | None = None


def background_loop() -> asyncio.AbstractEventLoop:
    """One event loop running in a thread of its own, as a service's would."""
    global _LOOP
    if _LOOP is None:
        _LOOP = asyncio.new_event_loop()
        threading.Thread(target=_LOOP.run_forever, name="zoo-loop", daemon=True).start()
    return _LOOP


async def _heartbeat() -> None:
    while True:
        await asyncio.sleep(3600)


def task_never_awaited() -> Widget:
    asyncio.run_coroutine_threadsafe(_heartbeat(), background_loop())
    return Widget()


def cancel_tasks() -> None:
    async def cancel_all() -> None:
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run_coroutine_threadsafe(cancel_all(), background_loop()).result(timeout=10)


CHILDREN: list[subprocess.Popen[bytes]] = []


def child_never_waited() -> Widget:
    CHILDREN.append(subprocess.Popen(["sleep", "60"]))
    return Widget()


def kill_children() -> None:
    while CHILDREN:
        child = CHILDREN.pop()
        child.kill()
        child.wait(timeout=10)


_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or None)
_LIBC.malloc.restype = ctypes.c_void_p
_LIBC.malloc.argtypes = [ctypes.c_size_t]
_LIBC.free.argtypes = [ctypes.c_void_p]


def native_buffer_never_freed() -> Widget:
    _LIBC.malloc(4096)  # C memory: no Python object, invisible to tracemalloc
    return Widget()


class ExitHooked(Widget):
    def __init__(self) -> None:
        super().__init__()
        atexit.register(self.on_event)  # atexit keeps the bound method, and so the object


def atexit_bound_method() -> ExitHooked:
    return ExitHooked()


def unregister_atexit() -> None:
    for obj in gc.get_objects():
        if isinstance(obj, ExitHooked):
            atexit.unregister(obj.on_event)


class WidgetHandler(logging.Handler):
    def __init__(self, widget: Widget) -> None:
        super().__init__()
        self.widget = widget

    def emit(self, record: logging.LogRecord) -> None:
        self.widget.on_event(record)


WIDGET_LOG = logging.getLogger("leak_zoo.widgets")


def logging_handler_never_removed() -> Widget:
    widget = Widget()
    WIDGET_LOG.addHandler(WidgetHandler(widget))
    return widget


def remove_handlers() -> None:
    for handler in list(WIDGET_LOG.handlers):
        WIDGET_LOG.removeHandler(handler)


_FILTERS = itertools.count()


def warnings_filter_per_object() -> Widget:
    warnings.filterwarnings("ignore", message=f"widget {next(_FILTERS)} is deprecated")
    return Widget()


def remove_filters() -> None:
    warnings.filters[:] = [f for f in warnings.filters if "is deprecated" not in getattr(f[1], "pattern", "")]
    warnings._filters_mutated()  # type: ignore[attr-defined]


#: name -> (build, the measure that must leak, words the report must say, cleanup)
KINDS: dict[str, tuple[Callable[[], Any], str, tuple[str, ...], Callable[[], None]]] = {
    "fd": (fd_never_closed, "open file descriptors", ("fds to " + FD_TARGET,), close_leaked_fds),
    "thread": (thread_never_stopped, "live threads",
               ("threads running tests.leak_zoo._keepalive (", "leak_zoo.py:", "started at"), stop_threads),
    "task": (task_never_awaited, "pending asyncio tasks",
             ("pending tasks of coroutine _heartbeat", "suspended at", "leak_zoo.py:"), cancel_tasks),
    "child process": (child_never_waited, "child processes", ("child processes: sleep 60 (running)",), kill_children),
    "native heap": (native_buffer_never_freed, "native heap (glibc mallinfo2)", ("allocated by C code",), lambda: None),
    "atexit": (atexit_bound_method, "atexit callbacks", ("likely held by atexit",), unregister_atexit),
    "logging handler": (logging_handler_never_removed, "logging handlers",
                        ("logger 'leak_zoo.widgets' gained", "WidgetHandler"), remove_handlers),
    "warnings filter": (warnings_filter_per_object, "warnings filters",
                        ("filters added, the newest:", "is deprecated"), remove_filters),
}  # fmt: skip


# -- their look-alikes -------------------------------------------------------------------

_FD_POOL: list[int] = []


def fd_pool_of_fixed_size() -> Widget:
    """Opens up to two fds (during the warm-up), then reuses them round-robin."""
    if len(_FD_POOL) < 2:
        _FD_POOL.append(os.open(_fd_target(), os.O_RDONLY))
    os.lseek(_FD_POOL[len(_FD_POOL) - 1], 0, os.SEEK_SET)
    return Widget()


_EXECUTOR = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="zoo-pool")


def thread_pool_reusing_threads() -> Widget:
    widget = Widget()
    _EXECUTOR.submit(widget.on_event).result(timeout=10)
    return widget


def thread_that_finishes() -> Widget:
    thread = threading.Thread(target=Widget)
    thread.start()
    thread.join(timeout=10)
    return Widget()


async def _ping() -> int:
    await asyncio.sleep(0)
    return 1


def task_that_finishes() -> Widget:
    asyncio.run_coroutine_threadsafe(_ping(), background_loop()).result(timeout=10)
    return Widget()


def child_waited_for() -> Widget:
    subprocess.run(["true"], check=True)
    return Widget()


_NATIVE_CACHE: collections.deque[int] = collections.deque()


def native_cache_with_a_bound() -> Widget:
    """Keeps the four newest C buffers and frees the oldest: bounded native memory."""
    _NATIVE_CACHE.append(_LIBC.malloc(4096))
    if len(_NATIVE_CACHE) > 4:
        _LIBC.free(_NATIVE_CACHE.popleft())
    return Widget()


class _Discard(logging.Handler):
    """Formats each record, traceback included, and drops it: what a handler writing to a file costs."""

    def emit(self, record: logging.LogRecord) -> None:
        self.format(record)


FAILURE_LOG = logging.getLogger("leak_zoo.failures")
FAILURE_LOG.propagate = False
DISCARD = _Discard()
FAILURE_LOG.addHandler(DISCARD)


def caught_and_logged_exception() -> Widget:
    widget = Widget()
    try:
        _fail_with(widget)
    except RuntimeError:
        FAILURE_LOG.error("request failed", exc_info=True)
    return widget


KIND_LOOK_ALIKES: dict[str, Callable[[], Any]] = {
    "fd pool of fixed size": fd_pool_of_fixed_size,
    "thread pool reusing threads": thread_pool_reusing_threads,
    "thread that finishes": thread_that_finishes,
    "task that finishes": task_that_finishes,
    "child waited for": child_waited_for,
    "native cache with a bound": native_cache_with_a_bound,
    "caught and logged exception": caught_and_logged_exception,
}
