"""Dispatch: order, CALLBACKS, extra, isolation, async, and changes while running."""

from __future__ import annotations

import asyncio
import gc
import warnings
from typing import Any

import pytest

from lifecycle import CallbackRegistry, Catalog, CustomLogger, Hook
from tests.conftest import Owner, warnings_of


class Recorder(CustomLogger):
    def __init__(self, tag: str = "r") -> None:
        self.tag = tag
        self.events: list[tuple[str, tuple[Any, ...]]] = []

    def log_pre_api_call(self, *args: Any, **kwargs: Any) -> None:
        self.events.append(("pre", args))

    def log_success_event(self, *args: Any, **kwargs: Any) -> None:
        self.events.append(("success", args))

    def log_failure_event(self, *args: Any, **kwargs: Any) -> None:
        self.events.append(("failure", args))

    async def async_log_success_event(self, *args: Any, **kwargs: Any) -> None:
        self.events.append(("async_success", args))

    async def async_log_failure_event(self, *args: Any, **kwargs: Any) -> None:
        self.events.append(("async_failure", args))

    def log_service_event(self, *args: Any, **kwargs: Any) -> None:
        self.events.append(("service", args))


def test_calls_in_registration_order_with_args_and_kwargs(registry: CallbackRegistry) -> None:
    seen: list[Any] = []
    owner = Owner()
    registry.add("input", lambda *a, **k: seen.append(("first", a, k)))
    registry.add("input", owner.on_input)
    registry.add("input", lambda *a, **k: seen.append(("third", a, k)))
    assert registry.dispatch("input", 1, 2, model="m") == 3
    assert seen == [("first", (1, 2), {"model": "m"}), ("third", (1, 2), {"model": "m"})]
    assert owner.calls == [("input", (1, 2), {"model": "m"})]


@pytest.mark.parametrize("arity", range(8))
def test_any_number_of_positional_arguments(registry: CallbackRegistry, arity: int) -> None:
    owner = Owner()
    seen: list[tuple[Any, ...]] = []
    registry.add("service", owner.on_success)
    registry.add("service", lambda *a: seen.append(a))
    args = tuple(range(arity))
    assert registry.dispatch("service", *args) == 2
    assert registry.dispatcher("service")(*args) == 2
    assert owner.calls == [("success", args, {})] * 2 and seen == [args, args]


def test_success_and_failure_also_run_callbacks_after_their_own(registry: CallbackRegistry) -> None:
    order: list[str] = []
    registry.add_callback(lambda *a: order.append("generic"))
    registry.add("success", lambda *a: order.append("success"))
    registry.add("failure", lambda *a: order.append("failure"))
    assert registry.dispatch("success") == 2
    assert registry.dispatch("failure") == 2
    assert registry.dispatch("input") == 0
    assert order == ["success", "generic", "failure", "generic"]


def test_loggers_get_the_method_of_the_dispatched_hook(registry: CallbackRegistry) -> None:
    logger = Recorder()
    registry.add("input", logger)
    registry.add("service", logger)
    registry.add_callback(logger)
    registry.dispatch("input", 1)
    registry.dispatch("success", 2)
    registry.dispatch("failure", 3)
    registry.dispatch("service", 4)
    asyncio.run(registry.adispatch("async_success", 5))
    asyncio.run(registry.adispatch("async_failure", 6))
    assert logger.events == [
        ("pre", (1,)),
        ("success", (2,)),
        ("failure", (3,)),
        ("service", (4,)),
        ("async_success", (5,)),
        ("async_failure", (6,)),
    ]


@pytest.mark.parametrize("hook", ["async_success", "async_failure", Hook.ASYNC_SUCCESS])
def test_sync_dispatch_on_an_async_hook_points_at_adispatch(registry: CallbackRegistry, hook: str) -> None:
    with pytest.raises(ValueError, match="adispatch"):
        registry.dispatch(hook)
    with pytest.raises(ValueError, match="adispatch"):
        registry.dispatcher(hook)


def test_callbacks_is_not_dispatched_directly(registry: CallbackRegistry) -> None:
    with pytest.raises(ValueError, match="SUCCESS or FAILURE"):
        registry.dispatch("callbacks")


# -- extra -------------------------------------------------------------------------------


class Unhashable:
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, log: list[str], tag: str) -> None:
        self.log = log
        self.tag = tag

    def __eq__(self, other: object) -> bool:
        return True  # equal to everything: must not be mistaken for a duplicate

    def __call__(self, *args: Any) -> None:
        self.log.append(self.tag)


def test_extra_runs_after_and_skips_duplicates(registry: CallbackRegistry) -> None:
    log: list[str] = []
    owner = Owner()
    registry.add("success", owner.on_success)
    first = Unhashable(log, "first")
    registry.add("success", first)
    second = Unhashable(log, "second")
    called = registry.dispatch("success", extra=[owner.on_success, first, second, second, Unhashable(log, "third")])
    assert called == 4
    assert log == ["first", "second", "third"]
    assert len(owner.calls) == 1
    assert registry.count("success") == 2  # extra is per call, never registered


def test_extra_loggers_dedup_by_key_and_names_resolve(catalog: Catalog) -> None:
    made: list[Recorder] = []
    catalog.register("rec", lambda: made.append(Recorder("named")) or made[-1])
    registry = CallbackRegistry(catalog=catalog)
    logger = Recorder()
    registry.add("success", logger)
    assert registry.dispatch("success", 1, extra=[Recorder(), "rec", "rec"]) == 2
    assert len(logger.events) == 1 and len(made) == 1 and made[0].events == [("success", (1,))]


def test_bad_extra_calls_nothing(registry: CallbackRegistry) -> None:
    owner = Owner()
    registry.add("success", owner.on_success)
    with pytest.raises(TypeError):
        registry.dispatch("success", extra=[print, 42])
    with pytest.raises(TypeError, match="wrap it in a list"):
        registry.dispatch("success", extra=print)
    with pytest.raises(TypeError, match="wrap it in a list"):
        registry.dispatch("success", extra="rec")
    assert owner.calls == []


def test_adispatch_takes_extra(registry: CallbackRegistry) -> None:
    owner = Owner()
    registry.add("async_success", owner.on_async)
    extra = Owner()
    assert asyncio.run(registry.adispatch("async_success", 1, extra=[owner.on_async, extra.on_async])) == 2
    assert len(owner.calls) == 1 and len(extra.calls) == 1


# -- isolation ---------------------------------------------------------------------------


def test_an_exception_is_logged_with_the_callback_name_and_dispatch_goes_on(
    registry: CallbackRegistry, lifecycle_log: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any) -> None:
        raise RuntimeError("boom")

    owner = Owner()
    registry.add("input", broken)
    registry.add("input", owner.on_input)
    assert registry.dispatch("input") == 2
    assert registry.dispatcher("input")() == 2
    assert len(owner.calls) == 2
    errors = [r for r in lifecycle_log.records if r.levelname == "ERROR"]
    assert len(errors) == 2 and "broken" in errors[0].getMessage() and errors[0].exc_info is not None


@pytest.mark.parametrize("error", [KeyboardInterrupt, SystemExit])
def test_base_exceptions_propagate(registry: CallbackRegistry, error: type[BaseException]) -> None:
    def stop(*args: Any) -> None:
        raise error

    registry.add("input", stop)
    with pytest.raises(error):
        registry.dispatch("input")
    with pytest.raises(error):
        asyncio.run(registry.adispatch("input"))


def test_a_coroutine_returned_to_sync_dispatch_is_closed_with_a_warning(
    registry: CallbackRegistry, lifecycle_log: pytest.LogCaptureFixture
) -> None:
    owner = Owner()
    registry.add("success", owner.on_async)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a "never awaited" RuntimeWarning would fail here
        assert registry.dispatch("success") == 1
        gc.collect()
    assert "adispatch" in warnings_of(lifecycle_log)[0].getMessage()


# -- names -------------------------------------------------------------------------------


def test_names_resolve_once_per_registry(catalog: Catalog) -> None:
    made: list[Recorder] = []

    def factory() -> Recorder:
        made.append(Recorder())
        return made[-1]

    catalog.register("rec", factory)
    first, second = CallbackRegistry(catalog=catalog), CallbackRegistry(catalog=catalog)
    for registry in (first, second):
        registry.add("success", "rec")
        registry.add("failure", "rec")
        registry.dispatch("success", 1)
        registry.dispatch("failure", 2)
    assert len(made) == 2
    assert made[0].events == [("success", (1,)), ("failure", (2,))]


def test_unknown_names_are_logged_once_and_skipped(
    registry: CallbackRegistry, catalog: Catalog, lifecycle_log: pytest.LogCaptureFixture
) -> None:
    registry.add("success", "missing")
    assert registry.dispatch("success") == 0
    assert registry.dispatch("success") == 0
    errors = [r for r in lifecycle_log.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "missing" in errors[0].getMessage()
    catalog.register("missing", Recorder)  # registered later: the next dispatch finds it
    assert registry.dispatch("success") == 1


# -- async -------------------------------------------------------------------------------


def test_adispatch_awaits_one_after_another_in_order(registry: CallbackRegistry) -> None:
    trace: list[str] = []

    def make(tag: str, delay: float) -> Any:
        async def callback(*args: Any) -> None:
            trace.append(f"{tag} start")
            await asyncio.sleep(delay)
            trace.append(f"{tag} end")

        return callback

    registry.add("async_success", make("a", 0.02))
    registry.add("async_success", lambda *a: trace.append("sync"))
    registry.add_callback(make("b", 0.0))
    assert asyncio.run(registry.adispatch("async_success")) == 3
    assert trace == ["a start", "a end", "sync", "b start", "b end"]


def test_adispatch_concurrent_runs_awaitables_together_each_isolated(
    registry: CallbackRegistry, lifecycle_log: pytest.LogCaptureFixture
) -> None:
    trace: list[str] = []

    def make(tag: str, delay: float, fail: bool = False) -> Any:
        async def callback(*args: Any) -> None:
            trace.append(f"{tag} start")
            await asyncio.sleep(delay)
            if fail:
                raise ValueError(tag)
            trace.append(f"{tag} end")

        return callback

    registry.add("async_failure", make("a", 0.05))
    registry.add("async_failure", make("bad", 0.01, fail=True))
    registry.add("async_failure", make("b", 0.0))
    assert asyncio.run(registry.adispatch("async_failure", concurrent=True)) == 3
    assert trace[:3] == ["a start", "bad start", "b start"]
    assert trace[3:] == ["b end", "a end"]
    errors = [r for r in lifecycle_log.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "callback" in errors[0].getMessage()


def test_adispatch_works_on_sync_hooks_too(registry: CallbackRegistry) -> None:
    owner = Owner()
    registry.add("success", owner.on_success)
    registry.add_callback(owner.on_async)
    assert asyncio.run(registry.adispatch("success", 1)) == 2
    assert [c[0] for c in owner.calls] == ["success", "async"]


def test_adispatch_isolates_a_failing_awaitable(
    registry: CallbackRegistry, lifecycle_log: pytest.LogCaptureFixture
) -> None:
    owner = Owner()

    async def broken(*args: Any) -> None:
        raise RuntimeError("async boom")

    registry.add("async_success", broken)
    registry.add("async_success", owner.on_async)
    assert asyncio.run(registry.adispatch("async_success")) == 2
    assert len(owner.calls) == 1
    assert any("broken" in r.getMessage() for r in lifecycle_log.records if r.levelname == "ERROR")


# -- the dispatcher ----------------------------------------------------------------------


def test_the_dispatcher_stays_current(registry: CallbackRegistry) -> None:
    fire = registry.dispatcher(Hook.SUCCESS)
    assert fire() == 0
    owner = Owner()
    registry.add("success", owner.on_success)
    assert fire(1) == 1
    registry.add_callback(owner.on_failure)
    assert fire(2) == 2
    registry.remove(owner.on_success)
    assert fire(3) == 1
    del owner
    assert fire(4) == 0


# -- changes during a dispatch -----------------------------------------------------------


def test_callbacks_may_add_and_remove_during_dispatch(registry: CallbackRegistry) -> None:
    late = Owner()
    victim = Owner()
    calls: list[str] = []

    def mutate(*args: Any) -> None:
        calls.append("mutate")
        registry.add("input", late.on_input)
        registry.remove(victim.on_input)

    registry.add("input", mutate)
    registry.add("input", victim.on_input)
    assert registry.dispatch("input") == 2  # this run had already planned victim
    assert late.calls == []
    registry.dispatch("input")
    assert len(late.calls) == 1 and len(victim.calls) == 1


def test_an_owner_dropped_during_dispatch_is_never_called(registry: CallbackRegistry) -> None:
    holder: dict[str, Owner] = {"doomed": Owner()}
    doomed_calls = holder["doomed"].calls

    def drop(*args: Any) -> None:
        del holder["doomed"]

    registry.add("input", drop)
    registry.add("input", holder["doomed"].on_input)
    assert registry.dispatch("input") == 1
    assert doomed_calls == []
    assert registry.count("input") == 1


def test_an_owner_dying_in_a_cycle_during_adispatch_is_skipped(registry: CallbackRegistry) -> None:
    holder: dict[str, Owner] = {"doomed": Owner()}
    holder["doomed"].me = holder["doomed"]  # type: ignore[attr-defined]
    doomed_calls = holder["doomed"].calls

    async def drop(*args: Any) -> None:
        del holder["doomed"]
        await asyncio.sleep(0)
        gc.collect()

    registry.add("async_success", drop)
    registry.add("async_success", holder["doomed"].on_async)
    assert asyncio.run(registry.adispatch("async_success")) == 1
    assert doomed_calls == []


def test_a_factory_that_returns_no_custom_logger_is_logged_once_and_skipped(
    registry: CallbackRegistry, catalog: Catalog, lifecycle_log: pytest.LogCaptureFixture
) -> None:
    made: list[int] = []

    def bad_factory() -> Any:
        made.append(1)
        return "not a logger"

    catalog.register("bad", bad_factory)
    registry.add("success", "bad")
    assert registry.dispatch("success") == 0  # not counted as called
    assert registry.dispatch("success") == 0
    assert asyncio.run(registry.adispatch("success")) == 0
    errors = [r for r in lifecycle_log.records if r.levelname == "ERROR"]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    message = errors[0].getMessage()
    assert "'bad'" in message and "str" in message and "CustomLogger" in message
    assert errors[0].exc_info is None  # a configuration error, not a crash: no traceback
    assert len(made) == 1  # the bad factory is not called again on every dispatch
    catalog.register("bad", Recorder)  # fixed later: the next dispatch finds it
    assert registry.dispatch("success") == 1
