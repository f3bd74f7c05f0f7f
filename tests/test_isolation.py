"""Total isolation (issue 8): nothing a callback is, does or returns stops a dispatch.

The callback's own exception was always caught; these are the holes around
it: the code that names a failing callback for the log, and the code that
inspects what it returned. Each hole is tried in ``dispatch`` and in
``adispatch`` (one after another, and concurrently): the next callback must
still be called, the count must be right, and the failure logged (ERROR,
logger ``lifecycle``).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import warnings
import weakref
from collections.abc import Callable
from typing import Any

import pytest

from lifecycle import CallbackRegistry, Hook

MODES = ["dispatch", "adispatch", "adispatch_concurrent"]


class Target:
    def __call__(self, *args: Any) -> None:
        pass


class Opaque:
    """A callable that cannot be named: reading its name raises."""

    def __call__(self, *args: Any) -> None:
        raise ValueError("the callback itself failed")

    def __getattribute__(self, name: str) -> Any:
        if name in ("__qualname__", "__module__", "__name__", "__func__", "__self__", "__wrapped__"):
            raise RuntimeError(f"reading {name} raises")
        return object.__getattribute__(self, name)

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"reading {name} raises")


class Unclassifiable:
    """A result whose ``__class__`` raises: ``isinstance`` (and ``inspect.isawaitable``) raise on it."""

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        raise RuntimeError("__class__ raises")


def dead_proxy() -> Any:
    target = Target()
    proxy = weakref.proxy(target)
    return proxy, target


def returns_unclassifiable(*args: Any) -> Unclassifiable:
    return Unclassifiable()


def run(registry: CallbackRegistry, mode: str) -> int:
    if mode == "dispatch":
        return registry.dispatch(Hook.SUCCESS, 1)
    return asyncio.run(registry.adispatch(Hook.ASYNC_SUCCESS, 1, concurrent=mode == "adispatch_concurrent"))


def errors_of(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "lifecycle" and r.levelno == logging.ERROR]


def register_then_next(registry: CallbackRegistry, mode: str, hole: Callable[..., Any]) -> list[str]:
    """Register ``hole`` and then a callback that records its call; return the record."""
    hook = Hook.SUCCESS if mode == "dispatch" else Hook.ASYNC_SUCCESS
    called: list[str] = []
    assert registry.add(hook, hole) is True
    if mode == "dispatch":
        assert registry.add(hook, lambda *args: called.append("next")) is True
    else:

        async def next_callback(*args: Any) -> None:
            await asyncio.sleep(0)
            called.append("next")

        assert registry.add(hook, next_callback) is True
    return called


@pytest.fixture
def errors(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="lifecycle")
    return caplog


@pytest.mark.parametrize("mode", MODES)
def test_a_dead_weakref_proxy_as_callback(
    registry: CallbackRegistry, mode: str, errors: pytest.LogCaptureFixture
) -> None:
    proxy, target = dead_proxy()
    called = register_then_next(registry, mode, proxy)
    del target
    gc.collect()
    with pytest.raises(ReferenceError):
        proxy()
    assert run(registry, mode) == 2
    assert called == ["next"]
    assert len(errors_of(errors)) == 1


@pytest.mark.parametrize("mode", MODES)
def test_a_callback_whose_name_cannot_be_read(
    registry: CallbackRegistry, mode: str, errors: pytest.LogCaptureFixture
) -> None:
    called = register_then_next(registry, mode, Opaque())
    assert run(registry, mode) == 2
    assert called == ["next"]
    [record] = errors_of(errors)
    assert "Opaque" in record.getMessage()  # the best name that can be read: its type's
    assert record.exc_info is not None and isinstance(record.exc_info[1], ValueError)


@pytest.mark.parametrize("mode", MODES)
def test_a_result_whose_class_raises(registry: CallbackRegistry, mode: str, errors: pytest.LogCaptureFixture) -> None:
    called = register_then_next(registry, mode, returns_unclassifiable)
    assert run(registry, mode) == 2
    assert called == ["next"]
    assert len(errors_of(errors)) == 1


@pytest.mark.parametrize("concurrent", [False, True])
def test_a_future_of_another_event_loop(
    registry: CallbackRegistry, concurrent: bool, errors: pytest.LogCaptureFixture
) -> None:
    """It cannot be awaited here: logged, and every other coroutine is still awaited."""
    other_loop = asyncio.new_event_loop()
    called: list[str] = []
    try:
        foreign = other_loop.create_future()

        async def first(*args: Any) -> None:
            await asyncio.sleep(0)
            called.append("first")

        def returns_foreign(*args: Any) -> asyncio.Future[Any]:
            return foreign

        async def last(*args: Any) -> None:
            await asyncio.sleep(0)
            called.append("last")

        for callback in (first, returns_foreign, last):
            assert registry.add(Hook.ASYNC_SUCCESS, callback) is True
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            count = asyncio.run(registry.adispatch(Hook.ASYNC_SUCCESS, concurrent=concurrent))
            gc.collect()
        assert count == 3
        assert sorted(called) == ["first", "last"]
        never_awaited = [w for w in caught if "never awaited" in str(w.message)]
        assert never_awaited == []
        assert len(errors_of(errors)) == 1
    finally:
        other_loop.close()
