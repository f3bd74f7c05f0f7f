"""The main job: a simulated long-lived gateway that hot-reloads its router again and again.

Worker threads and an asyncio loop serve requests through a ``RouterHost``
while the main thread reloads the router hundreds of times, swaps an
integration by type halfway, and finally asks ``leakcheck`` for a verdict.
``leaky=True`` makes the classic mistake: callbacks held strongly, old routers
never closed.
"""

from __future__ import annotations

import asyncio
import copy
import gc
import logging
import threading
import time
import tracemalloc
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

import leakcheck
from lifecycle import CallbackRegistry, Hook, default_registry
from router_demo.config import embedded_config, load_config, read_toml
from router_demo.errors import NoHealthyDeploymentError, ProviderError, RouterClosedError
from router_demo.host import RouterHost
from router_demo.integrations import MetricsLogger
from router_demo.router import Router

MESSAGES = [{"role": "user", "content": "Summarise the incident report in one line."}]


@attrs.define
class Counters:
    ok: int = 0
    failed: int = 0
    reload_errors: int = 0
    lock: threading.Lock = attrs.field(factory=threading.Lock, repr=False)

    def count(self, outcome: str) -> None:
        with self.lock:
            setattr(self, outcome, getattr(self, outcome) + 1)


@attrs.frozen
class Summary:
    mode: str
    reloads: int
    threads: int
    seconds: float
    requests_ok: int
    requests_failed: int
    reload_errors: int
    callbacks_start: Mapping[str, int]
    callbacks_end: Mapping[str, int]
    routers_built: int
    routers_alive: int
    routers_without_callbacks: int
    limit_warnings: int
    first_limit_warning: str | None
    memory_per_reload_bytes: float
    swap: Mapping[str, Any]
    leakcheck: Mapping[str, Any]
    leakcheck_text: str

    @property
    def clean(self) -> bool:
        return (
            self.routers_alive == 1
            and self.reload_errors == 0
            and dict(self.callbacks_end) == dict(self.callbacks_start)
            and not self.leakcheck["leaked"]
        )

    def as_dict(self) -> dict[str, Any]:
        data = attrs.asdict(self)
        data["clean"] = self.clean
        return data


class _WarningCounter(logging.Handler):
    """Counts the registry's limit warnings instead of letting them flood the terminal."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self.first: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if "max_callbacks" in record.getMessage():
            self.count += 1
            self.first = self.first or record.getMessage()


def variant(base: Mapping[str, Any], index: int) -> dict[str, Any]:
    """The configuration of reload ``index``: the kind of change operators push all day."""
    config = copy.deepcopy(dict(base))
    models = config["model_list"]
    models[-1]["litellm_params"]["mock_failure_rate"] = 0.3 if index % 2 else 0.05
    if index % 10 == 0:
        canary = copy.deepcopy(models[0])
        canary["litellm_params"]["model"] += "-canary"
        models.append(canary)
    return config


def _serve(host: RouterHost, models: list[str], stop: threading.Event, counters: Counters) -> None:
    turn = 0
    while not stop.is_set():
        model = models[turn % len(models)]
        turn += 1
        try:
            host.completion(model, MESSAGES)
            counters.count("ok")
        except (ProviderError, NoHealthyDeploymentError):
            counters.count("failed")
        except RouterClosedError:
            counters.count("reload_errors")


async def _serve_async(host: RouterHost, models: list[str], stop: threading.Event, counters: Counters) -> None:
    async def client(offset: int) -> None:
        turn = offset
        while not stop.is_set():
            model = models[turn % len(models)]
            turn += 1
            try:
                await host.acompletion(model, MESSAGES)
                counters.count("ok")
            except (ProviderError, NoHealthyDeploymentError):
                counters.count("failed")
            except RouterClosedError:
                counters.count("reload_errors")

    await asyncio.gather(*(client(offset) for offset in range(4)))


def _verdict(
    config: Mapping[str, Any], leaky: bool, progress: Callable[[int, int], None] | None = None
) -> leakcheck.LeakReport:
    """Reload cycles of the same configuration, on a registry of their own.

    Its own registry (with room for every cycle) so that the gateway's full
    lists cannot hide growth: what is judged is whether one reload leaves
    something behind.
    """
    registry = CallbackRegistry(max_callbacks=1000, name="leakcheck-probe")
    host = RouterHost(config, registry=registry, leaky=leaky)
    return leakcheck.check(
        lambda: host.reload(config),
        exercise=lambda router: router.completion(router.model_names[0], MESSAGES),
        cycles=20,
        rounds=4,
        warmup=3,
        watch=[Router],
        registries=[registry],
        progress=progress,
    )


def run_gateway(
    config: Mapping[str, Any] | str | Path | None = None,
    *,
    reloads: int = 300,
    threads: int = 4,
    leaky: bool = False,
    registry: CallbackRegistry | None = None,
    progress: Callable[[int, int], None] | None = None,
    verdict_progress: Callable[[int, int], None] | None = None,
    pause: float = 0.002,
) -> Summary:
    """Serve, reload ``reloads`` times, swap an integration halfway, and summarise.

    ``progress`` follows the reloads, ``verdict_progress`` the leakcheck cycles.
    """
    if isinstance(reloads, bool) or not isinstance(reloads, int) or reloads < 20:
        raise ValueError(f"reloads must be an int >= 20 (memory is measured from reload 10), got {reloads!r}")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be an int >= 1, got {threads!r}")
    base = _as_dict(config)
    registry = registry if registry is not None else default_registry
    warnings = _WarningCounter()
    lifecycle_log = logging.getLogger("lifecycle")
    lifecycle_log.addHandler(warnings)
    propagate, lifecycle_log.propagate = lifecycle_log.propagate, False
    started = time.perf_counter()
    try:
        host = RouterHost(base, registry=registry, leaky=leaky)
        routers: weakref.WeakSet[Router] = weakref.WeakSet([host.router])
        built, without_callbacks = 1, 0
        start_counts = dict(registry.stats().per_hook)
        models = list(host.router.model_names)
        counters, stop = Counters(), threading.Event()
        workers = [threading.Thread(target=_serve, args=(host, models, stop, counters)) for _ in range(threads)]
        workers.append(threading.Thread(target=lambda: asyncio.run(_serve_async(host, models, stop, counters))))
        for worker in workers:
            worker.start()
        swap: dict[str, Any] = {}
        memory_start = 0
        try:
            for index in range(1, reloads + 1):
                if index == 5:
                    tracemalloc.start()  # routers built from here on are traced
                if index == 10:  # the live router was built under tracing, as it will be at the end
                    gc.collect()
                    memory_start = tracemalloc.get_traced_memory()[0]
                if index == reloads // 2:
                    swap = _swap_metrics(host, base, index)
                router = host.reload(variant(base, index))
                routers.add(router)
                built += 1
                without_callbacks += not all(router.registered.values())
                del router
                if progress is not None:
                    progress(index, reloads)
                time.sleep(pause)
        finally:
            stop.set()
            for worker in workers:
                worker.join()
        gc.collect()
        memory_end = tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else memory_start
        tracemalloc.stop()
        end_counts = dict(registry.stats().per_hook)
        alive = len(routers)
        swap["metrics_after"] = _metrics_of(host, swap.get("label_after"))
        if not leaky:
            host.close()
    finally:
        lifecycle_log.removeHandler(warnings)
        lifecycle_log.propagate = propagate
    report = _verdict(base, leaky, verdict_progress)
    measured = max(1, reloads - 10)
    return Summary(
        mode="leaky" if leaky else "clean",
        reloads=reloads,
        threads=threads,
        seconds=round(time.perf_counter() - started, 3),
        requests_ok=counters.ok,
        requests_failed=counters.failed,
        reload_errors=counters.reload_errors,
        callbacks_start=start_counts,
        callbacks_end=end_counts,
        routers_built=built,
        routers_alive=alive,
        routers_without_callbacks=without_callbacks,
        limit_warnings=warnings.count,
        first_limit_warning=warnings.first,
        memory_per_reload_bytes=round((memory_end - memory_start) / measured, 1),
        swap=swap,
        leakcheck=report.as_dict(),
        leakcheck_text=str(report),
    )


def _metrics_of(host: RouterHost, label: str | None) -> dict[str, int]:
    for logger in host.integrations:
        if isinstance(logger, MetricsLogger) and (label is None or logger.label == label):
            return logger.snapshot()
    return {}


def _swap_metrics(host: RouterHost, base: dict[str, Any], index: int) -> dict[str, Any]:
    """Replace the metrics integration by a new one, by type, in one call; later configs name it."""
    before = _metrics_of(host, None)
    removed = host.swap_integration(MetricsLogger, MetricsLogger(label="after-swap"))
    base["integrations"] = [
        {"name": "metrics", "label": "after-swap"} if item == "metrics" else item for item in base["integrations"]
    ]
    callbacks = [type(c).__name__ for c in host.registry.callbacks(Hook.CALLBACKS)]
    return {"at_reload": index, "entries_removed": removed, "metrics_before": before,
            "label_after": "after-swap", "integrations_after": callbacks}  # fmt: skip


def _as_dict(config: Mapping[str, Any] | str | Path | None) -> dict[str, Any]:
    """A validated, mutable copy of the configuration, for making reload variants."""
    if config is None:
        data = embedded_config()
    elif isinstance(config, (str, Path)):
        data = read_toml(config)
    else:
        data = copy.deepcopy(dict(config))
    load_config(data)  # raises ConfigError saying what is wrong
    return data
