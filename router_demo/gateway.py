"""The main job: a simulated long-lived gateway that hot-reloads its router again and again.

Worker threads and an asyncio loop serve requests through a ``RouterHost``
while the main thread reloads the router hundreds of times, swaps an
integration by type halfway, and finally asks ``leakcheck`` for a verdict.
``leaky=True`` makes the classic mistake: callbacks held strongly, old routers
never closed.

The job never changes the configuration it is given: every configuration it
reloads is derived from it, validated before the run starts, and the verdict
judges the configuration as given.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import gc
import logging
import threading
import time
import tracemalloc
import weakref
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

import leakcheck
from lifecycle import CallbackRegistry, Hook
from lifecycle._checks import finite_number, int_at_least
from router_demo.config import config_data, embedded_config, load_config
from router_demo.errors import ConfigError, NoHealthyDeploymentError, ProviderError, RouterClosedError
from router_demo.host import RouterHost
from router_demo.integrations import MetricsLogger
from router_demo.router import Router, registry_or_default

MESSAGES = [{"role": "user", "content": "Summarise the incident report in one line."}]

#: Reloads before the memory baseline: first-time allocations settle, and the live router
#: at the baseline was built under tracing, as the live router at the end is.
WARMUP_RELOADS = 10
#: Every tenth reload adds a canary deployment: the kind of change operators push all day.
CANARY_EVERY = 10
#: The label of the metrics integration that replaces the configured one halfway.
SWAP_LABEL = "after-swap"
#: Concurrent clients on the asyncio loop.
ASYNC_CLIENTS = 4
#: The first records of each level the ``lifecycle`` logger passes on during the run.
SHOWN_PER_LEVEL = 3

Source = Mapping[str, Any] | str | Path | None


@attrs.define
class Counters:
    ok: int = 0
    failed: int = 0
    reload_errors: int = 0
    lock: threading.Lock = attrs.field(factory=threading.Lock, repr=False)

    def count(self, outcome: str) -> None:
        with self.lock:
            setattr(self, outcome, getattr(self, outcome) + 1)

    @contextlib.contextmanager
    def outcome(self) -> Iterator[None]:
        """Count the request run inside: served, failed (the provider's failure rate), or failed by a reload."""
        try:
            yield
        except (ProviderError, NoHealthyDeploymentError):
            self.count("failed")
        except RouterClosedError:
            self.count("reload_errors")
        else:
            self.count("ok")


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
    callbacks_refused: int
    lifecycle_log: Mapping[str, int]
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


# -- the configurations the job reloads ----------------------------------------------------------


def _names_metrics(item: object) -> bool:
    return item == "metrics" or (isinstance(item, Mapping) and item.get("name") == "metrics")


def _with_canary(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` plus a canary copy of its first deployment (same settings, its own model and id)."""
    derived = copy.deepcopy(dict(config))
    first_id = load_config(config).model_list[0].id
    canary = copy.deepcopy(derived["model_list"][0])
    canary["litellm_params"]["model"] += "-canary"
    canary["model_info"] = {"id": f"{first_id}-canary"}
    derived["model_list"].append(canary)
    return derived


def _with_swapped_metrics(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` naming the swapped-in metrics integration, so that reloads keep it."""
    derived = copy.deepcopy(dict(config))
    derived["integrations"] = [
        {"name": "metrics", "label": SWAP_LABEL} if _names_metrics(item) else item for item in config["integrations"]
    ]
    return derived


@attrs.frozen
class ReloadPlan:
    """What each reload loads, all derived from ``base`` (never changed) and validated before the run.

    ``can_swap``: the configuration has a metrics integration for the halfway swap to replace.
    """

    base: Mapping[str, Any]
    can_swap: bool
    variants: Mapping[tuple[bool, bool], Mapping[str, Any]]  # (swapped, canary) -> configuration

    @classmethod
    def of(cls, base: Mapping[str, Any]) -> ReloadPlan:
        can_swap = any(map(_names_metrics, base.get("integrations") or ()))
        swapped = _with_swapped_metrics(base) if can_swap else base
        variants = {
            (False, False): base,
            (False, True): _with_canary(base),
            (True, False): swapped,
            (True, True): _with_canary(swapped),
        }
        for (_, canary), config in variants.items():
            try:
                load_config(config)
            except ConfigError as error:
                what = "its canary reload (a copy of the first deployment)" if canary else "it"
                raise ConfigError(f"the configuration is valid but {what} is not: {error}") from None
        return cls(base, can_swap, variants)

    def config(self, index: int, swapped: bool) -> Mapping[str, Any]:
        """The configuration of reload ``index``, before or after the swap."""
        return self.variants[(swapped, index % CANARY_EVERY == 0)]


def _as_dict(config: Source) -> dict[str, Any]:
    """The configuration as a validated dict (a copy: the caller's stays untouched)."""
    data = embedded_config() if config is None else copy.deepcopy(dict(config_data(config)))
    load_config(data)  # raises ConfigError saying what is wrong
    return data


# -- what happens during the run -----------------------------------------------------------------


class _LogTally(logging.Filter):
    """Counts a logger's records by level and lets the first few of each level through.

    A leaking gateway logs one limit warning per refused callback, thousands of
    them; a failing integration logs one error per event. The user sees the
    first ``shown`` of each level, where their logging sends them (tracebacks
    included), and the summary counts them all.
    """

    def __init__(self, shown: int = SHOWN_PER_LEVEL) -> None:
        super().__init__()
        self.shown = shown
        self.counts: Counter[str] = Counter({"ERROR": 0, "WARNING": 0})
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            self.counts[record.levelname] += 1
            return self.counts[record.levelname] <= self.shown


@contextlib.contextmanager
def _tallied(logger_name: str) -> Iterator[_LogTally]:
    tally = _LogTally()
    logger = logging.getLogger(logger_name)
    logger.addFilter(tally)
    try:
        yield tally
    finally:
        logger.removeFilter(tally)


def _turns(models: list[str], stop: threading.Event, offset: int = 0) -> Iterator[str]:
    """The model of each request, round-robin, until ``stop`` is set: the one loop of every client."""
    turn = offset
    while not stop.is_set():
        yield models[turn % len(models)]
        turn += 1


def _serve(host: RouterHost, models: list[str], stop: threading.Event, counters: Counters) -> None:
    for model in _turns(models, stop):
        with counters.outcome():
            host.completion(model, MESSAGES)


async def _serve_async(host: RouterHost, models: list[str], stop: threading.Event, counters: Counters) -> None:
    async def client(offset: int) -> None:
        for model in _turns(models, stop, offset):
            with counters.outcome():
                await host.acompletion(model, MESSAGES)

    await asyncio.gather(*(client(offset) for offset in range(ASYNC_CLIENTS)))


@contextlib.contextmanager
def _traffic(host: RouterHost, threads: int) -> Iterator[Counters]:
    """Request threads and one asyncio loop, serving through ``host`` until the block ends."""
    models = list(host.router.model_names)
    counters, stop = Counters(), threading.Event()
    workers = [threading.Thread(target=_serve, args=(host, models, stop, counters)) for _ in range(threads)]
    workers.append(threading.Thread(target=lambda: asyncio.run(_serve_async(host, models, stop, counters))))
    for worker in workers:
        worker.start()
    try:
        yield counters
    finally:
        stop.set()
        for worker in workers:
            worker.join()


@contextlib.contextmanager
def _tracing() -> Iterator[None]:
    """``tracemalloc`` on for the block (left on if it already was)."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        yield
    finally:
        if started:
            tracemalloc.stop()


def _traced_bytes() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


@attrs.define
class _Reloads:
    """What the reload loop saw."""

    routers: weakref.WeakSet[Router]
    built: int = 1
    without_callbacks: int = 0
    memory_start: int = 0
    swap: dict[str, Any] = attrs.field(factory=dict)


def _metrics_of(host: RouterHost, label: str | None) -> dict[str, int]:
    for logger in host.integrations:
        if isinstance(logger, MetricsLogger) and (label is None or logger.label == label):
            return logger.snapshot()
    return {}


def _swap_metrics(host: RouterHost, plan: ReloadPlan, index: int) -> dict[str, Any]:
    """Replace the metrics integration by a new one, by type, in one call (if the configuration has one)."""
    if not plan.can_swap:
        return {"at_reload": index, "skipped": "the configuration has no metrics integration"}
    before = _metrics_of(host, None)
    removed = host.swap_integration(MetricsLogger, MetricsLogger(label=SWAP_LABEL))
    callbacks = [type(c).__name__ for c in host.registry.callbacks(Hook.CALLBACKS)]
    return {"at_reload": index, "entries_removed": removed, "metrics_before": before,
            "label_after": SWAP_LABEL, "integrations_after": callbacks}  # fmt: skip


def _reload_many(
    host: RouterHost, plan: ReloadPlan, reloads: int, progress: Callable[[int, int], None] | None, pause: float
) -> _Reloads:
    """Reload ``reloads`` times (tracing memory from the start), swapping the metrics integration halfway."""
    seen = _Reloads(weakref.WeakSet([host.router]))
    swapped = False
    for index in range(1, reloads + 1):
        if index == WARMUP_RELOADS:
            seen.memory_start = _traced_bytes()
        if index == reloads // 2:
            seen.swap = _swap_metrics(host, plan, index)
            swapped = plan.can_swap
        router = host.reload(plan.config(index, swapped))
        seen.routers.add(router)
        seen.built += 1
        seen.without_callbacks += not all(router.registered.values())
        del router
        if progress is not None:
            progress(index, reloads)
        time.sleep(pause)
    return seen


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


def _check_run(reloads: object, threads: object, pause: object) -> None:
    int_at_least(reloads, "reloads", 2 * WARMUP_RELOADS)  # memory is measured from reload WARMUP_RELOADS
    int_at_least(threads, "threads", 1)
    if finite_number(pause, "pause") < 0:
        raise ValueError(f"pause must be at least 0 seconds, got {pause!r}")


def run_gateway(
    config: Source = None,
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

    Arguments and every configuration the run will load are checked first
    (``ValueError``, ``ConfigError``), before any thread starts. ``progress``
    follows the reloads, ``verdict_progress`` the leakcheck cycles.
    """
    _check_run(reloads, threads, pause)
    plan = ReloadPlan.of(_as_dict(config))
    registry = registry_or_default(registry)
    started = time.perf_counter()
    refused_before = registry.stats().refused
    with _tallied("lifecycle") as log:
        with _tracing():
            host = RouterHost(plan.base, registry=registry, leaky=leaky)
            start_counts = dict(registry.stats().per_hook)
            with _traffic(host, threads) as counters:
                seen = _reload_many(host, plan, reloads, progress, pause)
            memory_end = _traced_bytes()
        end_counts = dict(registry.stats().per_hook)
        if "label_after" in seen.swap:
            seen.swap["metrics_after"] = _metrics_of(host, SWAP_LABEL)
        if not leaky:
            host.close()
        report = _verdict(plan.base, leaky, verdict_progress)
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
        routers_built=seen.built,
        routers_alive=len(seen.routers),
        routers_without_callbacks=seen.without_callbacks,
        callbacks_refused=registry.stats().refused - refused_before,
        lifecycle_log=dict(log.counts),
        memory_per_reload_bytes=round((memory_end - seen.memory_start) / (reloads - WARMUP_RELOADS), 1),
        swap=seen.swap,
        leakcheck=report.as_dict(),
        leakcheck_text=str(report),
    )
