"""The router's accounting, cooldown, errors, integrations and configuration."""

from __future__ import annotations

import asyncio
import gc
import io
import json
import math
import re
import weakref
from pathlib import Path
from typing import Any

import pytest

from lifecycle import CallbackRegistry, Hook
from router_demo import (
    ConfigError,
    ConsoleLogger,
    DeploymentStats,
    JsonlLogger,
    MetricsLogger,
    NoHealthyDeploymentError,
    ProviderError,
    Router,
    RouterClosedError,
    UnknownModelError,
    load_config,
)

MESSAGES = [{"role": "user", "content": "hello there"}]


def deployment(name: str, model: str, failure: float = 0.0, latency: float = 0.0) -> dict[str, Any]:
    return {
        "model_name": name,
        "litellm_params": {"model": model, "mock_failure_rate": failure, "mock_latency_ms": latency},
    }


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def registry() -> CallbackRegistry:
    return CallbackRegistry(name="router-tests")


def test_construction_registers_one_callback_per_hook(registry: CallbackRegistry) -> None:
    router = Router([deployment("m", "p/m")], registry=registry)
    assert all(router.registered.values()) and len(router.registered) == 6
    for hook in (Hook.INPUT, Hook.SUCCESS, Hook.FAILURE, Hook.ASYNC_SUCCESS, Hook.ASYNC_FAILURE, Hook.SERVICE):
        (callback,) = registry.callbacks(hook)
        assert callback.__self__ is router
    assert registry.stats().owners == 1


def test_completion_returns_an_openai_shaped_response_and_counts(registry: CallbackRegistry) -> None:
    router = Router([deployment("m", "p/m", latency=1)], registry=registry)
    response = router.completion("m", MESSAGES)
    assert response["object"] == "chat.completion" and response["model"] == "p/m"
    assert response["choices"][0]["message"] == {"role": "assistant", "content": "[p/m] hello there"}
    assert response["usage"]["total_tokens"] > 0
    books = router.stats()["m/p/m#0"]
    assert books.successes == 1 and books.failures == 0 and books.mean_latency_ms >= 1.0


def test_failures_fall_back_and_cool_a_deployment_down(registry: CallbackRegistry) -> None:
    clock = FakeClock()
    router = Router(
        [deployment("m", "bad/m", failure=1.0), deployment("m", "good/m")],
        registry=registry,
        seed=3,
        cooldown_failures=2,
        cooldown_seconds=10,
        clock=clock,
    )
    for _ in range(12):
        assert router.completion("m", MESSAGES)["model"] == "good/m"
    bad = router.stats()["m/bad/m#0"]
    assert bad.failures == 2 and bad.cooldowns == 1 and bad.skipped > 0
    assert router.healthy("m") == ["m/good/m#1"]
    assert router.service_events == {"cooldown_start": 1}
    clock.now += 10
    for _ in range(12):
        router.completion("m", MESSAGES)
    assert router.service_events["cooldown_end"] == 1
    assert router.stats()["m/bad/m#0"].failures > 2  # tried again once its cooldown ended


def test_every_deployment_failing_or_cooling_raises(registry: CallbackRegistry) -> None:
    router = Router([deployment("m", "bad/m", failure=1.0)], registry=registry, cooldown_failures=1)
    with pytest.raises(ProviderError, match="bad/m"):
        router.completion("m", MESSAGES)
    with pytest.raises(NoHealthyDeploymentError, match="cooling down"):
        router.completion("m", MESSAGES)


def test_unknown_model_is_a_lookup_error_naming_the_known_ones(registry: CallbackRegistry) -> None:
    router = Router([deployment("m", "p/m")], registry=registry)
    with pytest.raises(UnknownModelError, match=r"'nope'.*\['m'\]") as info:
        router.completion("nope", MESSAGES)
    assert isinstance(info.value, LookupError)


def test_async_completion_uses_the_async_hooks(registry: CallbackRegistry) -> None:
    router = Router([deployment("m", "bad/m", failure=1.0), deployment("m", "good/m")], registry=registry, seed=1)
    fired: list[str] = []
    registry.add(Hook.ASYNC_SUCCESS, lambda ctx: fired.append("ok"))
    registry.add(Hook.ASYNC_FAILURE, lambda ctx: fired.append("fail"))
    for _ in range(4):
        assert asyncio.run(router.acompletion("m", MESSAGES))["model"] == "good/m"
    books = router.stats()
    assert books["m/good/m#1"].successes == 4 and books["m/bad/m#0"].failures >= 1
    assert fired.count("ok") == 4 and "fail" in fired


def test_the_same_seed_gives_the_same_run() -> None:
    def run() -> list[str]:
        router = Router(
            [deployment("m", f"p/m{i}", failure=0.3) for i in range(3)], registry=CallbackRegistry(), seed=11
        )
        out = []
        for _ in range(30):
            try:
                out.append(router.completion("m", MESSAGES)["model"])
            except ProviderError:
                out.append("error")
        return out

    assert run() == run()


def test_a_router_ignores_other_routers_events(registry: CallbackRegistry) -> None:
    a = Router([deployment("m", "p/m")], registry=registry)
    b = Router([deployment("m", "p/m")], registry=registry)
    for _ in range(3):
        a.completion("m", MESSAGES)
    assert a.stats()["m/p/m#0"].successes == 3
    assert b.stats()["m/p/m#0"].successes == 0


def test_close_is_idempotent_removes_callbacks_and_refuses_calls(registry: CallbackRegistry) -> None:
    with Router([deployment("m", "p/m")], registry=registry) as router:
        router.completion("m", MESSAGES)
    assert router.closed and len(registry) == 0
    router.close()
    with pytest.raises(RouterClosedError):
        router.completion("m", MESSAGES)
    with pytest.raises(RouterClosedError):
        asyncio.run(router.acompletion("m", MESSAGES))


def test_a_closed_router_ignores_a_dispatch_that_was_already_running(registry: CallbackRegistry) -> None:
    holder: dict[str, Router] = {}
    registry.add(Hook.SUCCESS, lambda context: holder["router"].close())  # runs before the router's own
    router = holder["router"] = Router([deployment("m", "p/m")], registry=registry)
    router.completion("m", MESSAGES)  # this dispatch had planned router._on_success before the close
    assert router.closed
    assert router.stats()["m/p/m#0"].successes == 0


def test_a_dropped_router_is_freed_at_once_and_its_callbacks_leave(registry: CallbackRegistry) -> None:
    router = Router([deployment("m", "bad/m", failure=1.0), deployment("m", "p/m")], registry=registry, seed=2)
    for _ in range(5):
        router.completion("m", MESSAGES)
        asyncio.run(router.acompletion("m", MESSAGES))
    assert router.stats()["m/bad/m#0"].failures > 0  # failures stored exceptions: still no cycle
    ref = weakref.ref(router)
    del router
    assert ref() is None, "the router kept itself alive (a reference cycle or a strong callback)"
    assert len(registry) == 0 and registry.stats().collected == 6


def test_weak_false_reproduces_the_leak(registry: CallbackRegistry) -> None:
    router = Router([deployment("m", "p/m")], registry=registry, weak=False)
    ref = weakref.ref(router)
    del router
    gc.collect()
    assert ref() is not None and len(registry) == 6
    ref().close()  # type: ignore[union-attr]
    gc.collect()
    assert ref() is None and len(registry) == 0


# -- integrations ------------------------------------------------------------------------


def test_integrations_observe_events(registry: CallbackRegistry, tmp_path: Path) -> None:
    metrics, stream, path = MetricsLogger(), io.StringIO(), tmp_path / "events.jsonl"
    console, jsonl = ConsoleLogger(stream=stream), JsonlLogger(path)
    for logger in (metrics, console, jsonl):
        registry.add_callback(logger)
        registry.add_input_callback(logger)
        registry.add_service_callback(logger)
    router = Router([deployment("m", "bad/m", failure=1.0), deployment("m", "good/m")], registry=registry, seed=1)
    for _ in range(3):
        router.completion("m", MESSAGES)
    asyncio.run(router.acompletion("m", MESSAGES))
    counts = metrics.snapshot()
    assert counts["success"] == 3 and counts["async_success"] == 1 and counts["pre_call"] >= 4
    assert metrics.by_deployment[("m/good/m#1", "success")] == 3
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == sum(counts.values())
    successes = [line for line in lines if line["kind"] == "success"]
    assert len(successes) == 3 and {line["deployment"] for line in successes} == {"m/good/m#1"}
    assert stream.getvalue().count("router success:") == 3


def test_integrations_are_in_the_catalog() -> None:
    from lifecycle import catalog

    assert {"console", "jsonl", "metrics"} <= set(catalog.names())
    assert isinstance(catalog.resolve("metrics"), MetricsLogger)


# -- configuration -----------------------------------------------------------------------


GOOD = {
    "model_list": [deployment("m", "p/m", failure=0.1, latency=2)],
    "integrations": ["metrics", {"name": "jsonl", "path": "x.jsonl"}],
    "router_settings": {"cooldown_failures": 2, "cooldown_seconds": 1.5, "seed": 4},
}


def test_a_good_config_loads(tmp_path: Path) -> None:
    config = load_config(GOOD)
    assert config.model_list[0].failure_rate == 0.1 and config.model_list[0].latency_ms == 2
    assert config.cooldown_failures == 2 and config.seed == 4 and len(config.integrations) == 2
    toml = tmp_path / "router.toml"
    toml.write_text(
        'integrations = ["metrics"]\n[router_settings]\nseed = 1\n'
        '[[model_list]]\nmodel_name = "m"\nlitellm_params = { model = "p/m", mock_latency_ms = 1 }\n'
    )
    assert load_config(toml).model_list[0].model == "p/m"
    assert load_config(str(toml)).seed == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model_list": []}, "model_list must be a non-empty list"),
        ({"model_list": ["x"]}, r"model_list\[0\] must be a table"),
        ({"model_list": [{"litellm_params": {"model": "a"}}]}, r"model_list\[0\]\.model_name"),
        ({"model_list": [{"model_name": "m"}]}, r"model_list\[0\]\.litellm_params"),
        ({"model_list": [{"model_name": "m", "litellm_params": {}}]}, r"litellm_params\.model must"),
        ({"model_list": [deployment("m", "p", failure=2)]}, "mock_failure_rate must be between 0"),
        ({"model_list": [deployment("m", "p", latency=-1)]}, "mock_latency_ms must be between 0 and 60000"),
        ({"integrations": "metrics"}, "integrations must be a list"),
        ({"integrations": [3]}, r"integrations\[0\]"),
        ({"router_settings": {"cooldown_failures": 0}}, r"router_settings\.cooldown_failures must be an int >= 1"),
        ({"router_settings": {"bogus": 1}}, r"unknown router_settings \['bogus'\]"),
        ({"extra": 1}, r"unknown configuration keys \['extra'\]"),
    ],
)
def test_bad_configs_say_what_is_wrong(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        load_config({**GOOD, **change})
    assert isinstance(info.value, ValueError)


def test_unreadable_config_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("model_list = [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(broken)


# -- bad input: clear errors, nothing half-built --------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model_list": [deployment("m", "p", latency=math.inf)]}, "mock_latency_ms must be a finite number"),
        ({"model_list": [deployment("m", "p", latency=math.nan)]}, "mock_latency_ms must be a finite number"),
        ({"model_list": [deployment("m", "p", latency=1e9)]}, "mock_latency_ms must be between 0 and 60000"),
        ({"model_list": [deployment("m", "p", failure=math.nan)]}, "mock_failure_rate must be a finite number"),
        ({"router_settings": {"cooldown_seconds": math.nan}}, "cooldown_seconds must be a finite number"),
        ({"router_settings": {"cooldown_seconds": math.inf}}, "cooldown_seconds must be a finite number"),
        ({"router_settings": {"cooldown_failures": True}}, r"router_settings\.cooldown_failures must be an int"),
        ({"router_settings": {"seed": 1.5}}, r"router_settings\.seed must be an int or None"),
        ({"integrations": ["nosuch"]}, r"integrations\[0\]: no integration named 'nosuch' \(known: .*'metrics'"),
        ({"integrations": [{"name": "nosuch"}]}, r"integrations\[0\]: no integration named 'nosuch'"),
        (
            {"integrations": [{"name": "metrics", "colour": "red"}]},
            r"integrations\[0\]: unknown option 'colour' for 'metrics'; it takes \['label'\]",
        ),
        ({"integrations": ["metrics", {"name": "jsonl"}]}, r"integrations\[1\]: 'jsonl' needs the option 'path'"),
        ({"integrations": [{"name": "jsonl", "path": 3}]}, r"integrations\[0\]: option 'path' of 'jsonl' must be"),
    ],
)
def test_bad_values_and_integrations_are_config_errors(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config({**GOOD, **change})


def test_a_table_may_name_a_catalog_integration_without_options() -> None:
    from lifecycle import catalog

    assert load_config({**GOOD, "integrations": [{"name": "console"}]}).integrations == ({"name": "console"},)
    catalog.register("router-tests-custom", MetricsLogger)
    assert load_config({**GOOD, "integrations": [{"name": "router-tests-custom"}]})
    with pytest.raises(ConfigError, match=r"unknown option 'x' for 'router-tests-custom'; it takes none"):
        load_config({**GOOD, "integrations": [{"name": "router-tests-custom", "x": 1}]})


def test_router_errors_are_not_registry_errors() -> None:
    from lifecycle import LifecycleError
    from router_demo import RouterError

    assert not issubclass(RouterError, LifecycleError)
    assert not issubclass(ConfigError, LifecycleError)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"seed": "x"}, ValueError, "seed must be an int or None, got 'x'"),
        ({"seed": True}, ValueError, "seed must be an int or None"),
        ({"registry": "default"}, TypeError, "registry must be a lifecycle.CallbackRegistry or None, got str"),
        ({"cooldown_failures": 0}, ValueError, "cooldown_failures must be an int >= 1, got 0"),
        ({"cooldown_seconds": math.nan}, ValueError, "cooldown_seconds must be a finite number"),
        ({"cooldown_seconds": -1}, ValueError, "cooldown_seconds must be at least 0"),
        ({"provider": object()}, TypeError, "provider must be a FakeProvider or None"),
        ({"clock": 3}, TypeError, "clock must be a callable returning seconds"),
        ({"weak": None}, TypeError, "weak must be True or False"),
    ],
)
def test_router_arguments_are_checked(kwargs: dict[str, Any], error: type[Exception], message: str) -> None:
    registry = kwargs.pop("registry", CallbackRegistry(name="args"))
    with pytest.raises(error, match=re.escape(message)):
        Router([deployment("m", "p/m")], registry=registry, **kwargs)
    if isinstance(registry, CallbackRegistry):
        assert len(registry) == 0  # nothing half-registered


@pytest.mark.parametrize("model_list", [None, 3, "gpt-4o", [], [None]])
def test_router_model_list_is_checked(model_list: Any) -> None:
    with pytest.raises(ValueError, match="model_list"):
        Router(model_list, registry=CallbackRegistry())


@pytest.mark.parametrize(
    ("model", "messages", "error", "message"),
    [
        ("m", "hi", TypeError, "messages must be a list of message dicts"),
        ("m", None, TypeError, "messages must be a list of message dicts like {'role': 'user', 'content': ...}, got "
        "NoneType"),
        ("m", ["hi"], TypeError, r"messages[0] must be a dict"),
        ("m", [], ValueError, "messages must not be empty"),
        (None, MESSAGES, TypeError, "model must be a model name (str), got NoneType"),
    ],
)
def test_completion_arguments_are_checked(
    registry: CallbackRegistry, model: Any, messages: Any, error: type[Exception], message: str
) -> None:
    router = Router([deployment("m", "p/m")], registry=registry)
    with pytest.raises(error, match=re.escape(message)):
        router.completion(model, messages)
    with pytest.raises(error, match=re.escape(message)):
        asyncio.run(router.acompletion(model, messages))
    assert router.stats()["m/p/m#0"] == DeploymentStats()  # nothing was dispatched
