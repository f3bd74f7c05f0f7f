"""Hot reload: atomic swaps under concurrent requests, integrations, and no routers left behind."""

from __future__ import annotations

import asyncio
import gc
import threading
import weakref
from pathlib import Path
from typing import Any

import pytest

from lifecycle import CallbackRegistry, Hook
from router_demo import ConfigError, ConsoleLogger, HostClosedError, MetricsLogger, Router, RouterHost

MESSAGES = [{"role": "user", "content": "hi"}]


def config(*, failure: float = 0.0, models: int = 2, integrations: tuple[Any, ...] = ("metrics",)) -> dict[str, Any]:
    return {
        "model_list": [
            {"model_name": f"m{i}", "litellm_params": {"model": f"p/m{i}", "mock_failure_rate": failure}}
            for i in range(models)
        ],
        "integrations": list(integrations),
        "router_settings": {"seed": 5},
    }


@pytest.fixture
def registry() -> CallbackRegistry:
    return CallbackRegistry(name="host-tests")


def test_reload_swaps_and_closes_the_old_router(registry: CallbackRegistry) -> None:
    host = RouterHost(config(), registry=registry)
    old = host.router
    new = host.reload(config(models=3))
    assert host.router is new is not old and old.closed and not new.closed
    assert host.reloads == 1 and new.model_names == ("m0", "m1", "m2")
    assert all(c.__self__ is new for c in registry.callbacks(Hook.SUCCESS))


def test_a_bad_config_leaves_the_running_router_untouched(registry: CallbackRegistry) -> None:
    host = RouterHost(config(), registry=registry)
    before, size = host.router, len(registry)
    with pytest.raises(ConfigError):
        host.reload({"model_list": []})
    with pytest.raises(ConfigError):
        host.reload("/nonexistent/router.toml")
    assert host.router is before and not before.closed and len(registry) == size
    assert host.completion("m0", MESSAGES)["model"] == "p/m0"


def test_two_hundred_reloads_leave_one_router_and_a_one_router_registry(registry: CallbackRegistry) -> None:
    host = RouterHost(config(), registry=registry)
    size = registry.stats().per_hook
    routers: weakref.WeakSet[Router] = weakref.WeakSet([host.router])
    for index in range(200):
        routers.add(host.reload(config(models=1 + index % 3)))
        host.completion("m0", MESSAGES)
    gc.collect()
    assert list(routers) == [host.router]
    assert registry.stats().per_hook == size
    assert registry.stats().owners == 2  # the router and the host (its integrations)


def test_reload_under_concurrent_requests(registry: CallbackRegistry) -> None:
    host = RouterHost(config(), registry=registry)
    stop = threading.Event()
    errors: list[BaseException] = []
    served = [0]

    def serve() -> None:
        while not stop.is_set():
            try:
                host.completion("m0", MESSAGES)
                served[0] += 1
            except BaseException as error:
                errors.append(error)

    async def serve_async() -> None:
        while not stop.is_set():
            try:
                await host.acompletion("m1", MESSAGES)
                served[0] += 1
            except BaseException as error:
                errors.append(error)
            await asyncio.sleep(0)

    threads = [threading.Thread(target=serve) for _ in range(3)]
    threads.append(threading.Thread(target=lambda: asyncio.run(serve_async())))
    for thread in threads:
        thread.start()
    closed_books = []
    try:
        for _ in range(100):
            old = host.router
            host.reload(config())
            closed_books.append((old, old.stats(), dict(old.service_events)))
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert errors == [], "a request failed because of a reload"
    assert served[0] > 100
    for router, books, service in closed_books:
        assert router.stats() == books and router.service_events == service, "an old router's callback fired"


def test_integrations_survive_reloads_and_leave_when_dropped(registry: CallbackRegistry) -> None:
    host = RouterHost(config(integrations=("metrics", "console")), registry=registry)
    (metrics,) = [i for i in host.integrations if isinstance(i, MetricsLogger)]
    host.completion("m0", MESSAGES)
    host.reload(config(integrations=("metrics", "console")))
    host.completion("m0", MESSAGES)
    assert metrics in host.integrations and metrics.snapshot()["success"] == 2
    host.reload(config(integrations=("metrics",)))
    assert not any(isinstance(c, ConsoleLogger) for c in registry.callbacks(Hook.CALLBACKS))
    assert registry.callbacks(Hook.CALLBACKS) == (metrics,)


def test_swap_integration_by_type_is_one_call(registry: CallbackRegistry) -> None:
    host = RouterHost(config(), registry=registry)
    (old,) = host.integrations
    host.completion("m0", MESSAGES)
    replacement = MetricsLogger(label="v2")
    assert host.swap_integration(MetricsLogger, replacement) == 3  # input, callbacks, service
    host.completion("m0", MESSAGES)
    assert old.snapshot()["success"] == 1 and replacement.snapshot()["success"] == 1
    assert host.integrations == (replacement,)
    with pytest.raises(TypeError, match="CustomLogger"):
        host.swap_integration(MetricsLogger, "metrics")  # type: ignore[arg-type]


def test_close_removes_everything(registry: CallbackRegistry) -> None:
    host = RouterHost(config(integrations=("metrics", "console")), registry=registry)
    host.close()
    assert len(registry) == 0


def test_the_leaky_host_shows_the_classic_leak() -> None:
    registry = CallbackRegistry(max_callbacks=30, name="leaky")
    host = RouterHost(config(), registry=registry, leaky=True)
    routers: weakref.WeakSet[Router] = weakref.WeakSet([host.router])
    for _ in range(40):
        routers.add(host.reload(config()))
    gc.collect()
    # The first 30 are held by their strong callbacks forever; the rest got no callbacks at
    # all (refused at the limit), so only the current one of them is alive.
    assert len(routers) == 31
    assert registry.count(Hook.SUCCESS) == 30  # stuck at the limit
    assert not any(host.router.registered.values())  # later routers silently get no callbacks
    assert registry.stats().refused > 0


def test_reload_after_close_is_a_clear_error_and_registers_nothing(registry: CallbackRegistry) -> None:
    host = RouterHost(config(), registry=registry)
    host.close()
    host.close()  # idempotent
    with pytest.raises(HostClosedError, match="closed; build a new RouterHost") as info:
        host.reload(config())
    assert isinstance(info.value, RuntimeError)
    with pytest.raises(HostClosedError):
        host.swap_integration(MetricsLogger, MetricsLogger(label="late"))
    with pytest.raises(HostClosedError):
        host.completion("m0", MESSAGES)
    with pytest.raises(HostClosedError):
        asyncio.run(host.acompletion("m0", MESSAGES))
    assert len(registry) == 0 and host.router.closed


@pytest.mark.parametrize(
    ("integrations", "message"),
    [
        (("nosuch",), r"integrations\[0\]: no integration named 'nosuch'"),
        ({"name": "metrics", "colour": "red"}, r"unknown option 'colour' for 'metrics'"),
        ({"name": "jsonl"}, r"'jsonl' needs the option 'path'"),
    ],
)
def test_bad_integrations_are_config_errors_that_change_nothing(
    registry: CallbackRegistry, integrations: Any, message: str
) -> None:
    items = integrations if isinstance(integrations, tuple) else (integrations,)
    with pytest.raises(ConfigError, match=message):
        RouterHost(config(integrations=items), registry=registry)
    assert len(registry) == 0
    host = RouterHost(config(), registry=registry)
    before, size = host.router, len(registry)
    with pytest.raises(ConfigError, match=message):
        host.reload(config(integrations=items))
    assert host.router is before and not before.closed and len(registry) == size


def test_an_integration_that_cannot_start_is_a_config_error(registry: CallbackRegistry, tmp_path: Path) -> None:
    unwritable = tmp_path / "no-such-folder" / "events.jsonl"
    with pytest.raises(ConfigError, match=r"integration 'jsonl' cannot start: .*no-such-folder.*No such file") as info:
        RouterHost(config(integrations=({"name": "jsonl", "path": str(unwritable)},)), registry=registry)
    assert "\n" not in str(info.value)
    assert len(registry) == 0
    folder = tmp_path / "a-folder"
    folder.mkdir()
    with pytest.raises(ConfigError, match="cannot start"):
        RouterHost(config(integrations=({"name": "jsonl", "path": str(folder)},)), registry=registry)
    assert len(registry) == 0


def test_host_arguments_are_checked() -> None:
    with pytest.raises(TypeError, match=r"registry must be a lifecycle\.CallbackRegistry or None, got str"):
        RouterHost(config(), registry="default")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="leaky must be True or False"):
        RouterHost(config(), leaky=None)  # type: ignore[arg-type]
