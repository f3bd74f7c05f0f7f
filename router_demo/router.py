"""A router over deployments of LLM models, observed through ``lifecycle`` hooks.

The router keeps its own books (per-deployment counts, latency, cooldowns)
through six bound methods it registers on construction, exactly as gateway
routers do with process-wide callback lists. Because the registry holds them
weakly, a router that is dropped without ``close()`` is freed at once and its
callbacks leave the registry on their own. ``weak=False`` reproduces the
classic mistake (callbacks held strongly): such a router lives until it is
closed, and one that is never closed never dies.

Callbacks are process-wide, so every router sees every router's events; each
handler ignores events that are not its own, and all of them do nothing once
the router is closed, even when a dispatch that started earlier reaches them.
"""

from __future__ import annotations

import collections
import itertools
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any

import attrs

from lifecycle import CallbackRegistry, Hook, default_registry
from router_demo.config import Deployment, check_settings, deployments_of
from router_demo.errors import NoHealthyDeploymentError, ProviderError, RouterClosedError, UnknownModelError
from router_demo.provider import FakeProvider, Message

_router_ids = itertools.count(1)


@attrs.define
class CallContext:
    """What the hooks of one attempt receive: which router, model and deployment, and the outcome."""

    router_id: int
    model: str
    deployment: str
    messages: Sequence[Message]
    start: float
    end: float | None = None
    response: Mapping[str, Any] | None = None
    error: Exception | None = None
    skip: bool = False

    @property
    def latency_ms(self) -> float | None:
        return None if self.end is None else (self.end - self.start) * 1000

    def as_event(self) -> dict[str, Any]:
        return {
            "router": self.router_id,
            "model": self.model,
            "deployment": self.deployment,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 3),
            "error": None if self.error is None else str(self.error),
        }


@attrs.frozen
class ServiceEvent:
    """A deployment entered or left cooldown."""

    router_id: int
    kind: str
    deployment: str

    def as_event(self) -> dict[str, Any]:
        return {"router": self.router_id, "event": self.kind, "deployment": self.deployment}


@attrs.define
class DeploymentStats:
    successes: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    total_latency_ms: float = 0.0
    skipped: int = 0
    cooldowns: int = 0
    cooldown_until: float | None = None

    @property
    def mean_latency_ms(self) -> float:
        return self.total_latency_ms / self.successes if self.successes else 0.0


def registry_or_default(registry: object) -> CallbackRegistry:
    """``registry``, or ``lifecycle.default_registry`` for ``None``; ``TypeError`` for anything else."""
    if registry is None:
        return default_registry
    if not isinstance(registry, CallbackRegistry):
        raise TypeError(f"registry must be a lifecycle.CallbackRegistry or None, got {type(registry).__name__}")
    return registry


def check_call(model: object, messages: object) -> None:
    """The arguments of ``completion``/``acompletion``: a model name and a non-empty list of message dicts."""
    if not isinstance(model, str):
        raise TypeError(f"model must be a model name (str), got {type(model).__name__}")
    if not isinstance(messages, Sequence) or isinstance(messages, (str, bytes)):
        raise TypeError(
            f"messages must be a list of message dicts like {{'role': 'user', 'content': ...}}, "
            f"got {type(messages).__name__}"
        )
    if not messages:
        raise ValueError("messages must not be empty: give at least one {'role': ..., 'content': ...} dict")
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise TypeError(
                f"messages[{index}] must be a dict like {{'role': 'user', 'content': ...}}, "
                f"got {type(message).__name__}"
            )


class Router:
    """Routes ``completion`` calls to deployments, with cooldown of failing deployments.

    ``model_list``: deployments shaped ``{"model_name": ..., "litellm_params":
    {"model": ..., "mock_latency_ms": ..., "mock_failure_rate": ...}}``.
    A deployment that fails ``cooldown_failures`` times in a row is skipped
    for ``cooldown_seconds``; a call falls back to the model's other
    deployments in a seeded shuffled order.
    """

    def __init__(
        self,
        model_list: Sequence[Mapping[str, Any]] | Sequence[Deployment],
        *,
        registry: CallbackRegistry | None = None,
        seed: int | None = None,
        cooldown_failures: int = 3,
        cooldown_seconds: float = 5.0,
        provider: FakeProvider | None = None,
        clock: Callable[[], float] = time.monotonic,
        weak: bool = True,
    ) -> None:
        self.deployments: tuple[Deployment, ...] = deployments_of(model_list)
        failures, seconds, seed = check_settings(cooldown_failures, cooldown_seconds, seed)
        if provider is not None and not isinstance(provider, FakeProvider):
            raise TypeError(f"provider must be a FakeProvider or None, got {type(provider).__name__}")
        if not callable(clock):
            raise TypeError(f"clock must be a callable returning seconds (like time.monotonic), got {clock!r}")
        if not isinstance(weak, bool):
            raise TypeError(f"weak must be True or False, got {weak!r}")
        self.registry = registry_or_default(registry)
        self.id = next(_router_ids)
        self.cooldown_failures = failures
        self.cooldown_seconds = seconds
        self._clock = clock
        self._provider = provider if provider is not None else FakeProvider(seed)
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._closed = False
        self._by_model: dict[str, list[Deployment]] = {}
        for deployment in self.deployments:
            self._by_model.setdefault(deployment.model_name, []).append(deployment)
        self._stats = {deployment.id: DeploymentStats() for deployment in self.deployments}
        self.service_events: collections.Counter[str] = collections.Counter()
        self._scope = self.registry.bind(self)
        handlers = (
            (Hook.INPUT, self._on_input),
            (Hook.SUCCESS, self._on_success),
            (Hook.FAILURE, self._on_failure),
            (Hook.ASYNC_SUCCESS, self._on_async_success),
            (Hook.ASYNC_FAILURE, self._on_async_failure),
            (Hook.SERVICE, self._on_service),
        )
        #: Which hooks accepted this router's callback (``False``: refused at the registry's limit).
        strength = None if weak else False
        self.registered = {hook.value: self._scope.add(hook, handler, weak=strength) for hook, handler in handlers}

    # -- lifecycle ----------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Remove this router's callbacks and refuse new calls. Idempotent.

        Calls already in flight finish normally; from the moment ``close``
        returns, none of this router's callbacks does anything.
        """
        with self._lock:  # a handler that checks "closed" under this lock sees it from now on
            self._closed = True
        self._scope.close()

    def __enter__(self) -> Router:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<Router #{self.id} {state}: {len(self.deployments)} deployments, models {sorted(self._by_model)}>"

    # -- calls --------------------------------------------------------------------------

    @property
    def model_names(self) -> tuple[str, ...]:
        return tuple(sorted(self._by_model))

    def _attempts(self, model: str, messages: Sequence[Message]) -> Iterator[tuple[Deployment, CallContext]]:
        """One context per deployment to try, in seeded shuffled order."""
        check_call(model, messages)
        if self._closed:
            raise RouterClosedError(f"router #{self.id} is closed; use the host's current router")
        deployments = self._by_model.get(model)
        if deployments is None:
            raise UnknownModelError(f"no deployment serves model {model!r}; this router has {list(self.model_names)}")
        with self._lock:
            order = self._rng.sample(deployments, len(deployments))
        for deployment in order:
            yield deployment, CallContext(self.id, model, deployment.id, messages, time.perf_counter())

    @staticmethod
    def _finish(context: CallContext, response: Mapping[str, Any] | None, error: Exception | None) -> None:
        context.end = time.perf_counter()
        context.response = response
        # No traceback: it would tie the caller's frame (and so this router) into a cycle.
        context.error = None if error is None else error.with_traceback(None)

    def _give_up(self, model: str, failure: Exception | None) -> Exception:
        if failure is not None:
            return failure
        return NoHealthyDeploymentError(f"every deployment of {model!r} is cooling down after repeated failures")

    def completion(self, model: str, messages: Sequence[Message]) -> dict[str, Any]:
        """Call the model through one of its deployments, falling back to the others on failure."""
        failure: Exception | None = None
        for deployment, context in self._attempts(model, messages):
            self.registry.dispatch(Hook.INPUT, context)
            if context.skip:
                continue
            try:
                response = self._provider.complete(deployment, messages)
            except ProviderError as error:
                self._finish(context, None, error)
                self.registry.dispatch(Hook.FAILURE, context)
                failure = context.error
                continue
            self._finish(context, response, None)
            self.registry.dispatch(Hook.SUCCESS, context)
            return response
        raise self._give_up(model, failure)

    async def acompletion(self, model: str, messages: Sequence[Message]) -> dict[str, Any]:
        """``completion`` for asyncio: the same fallback, with the async hooks."""
        failure: Exception | None = None
        for deployment, context in self._attempts(model, messages):
            await self.registry.adispatch(Hook.INPUT, context)
            if context.skip:
                continue
            try:
                response = await self._provider.acomplete(deployment, messages)
            except ProviderError as error:
                self._finish(context, None, error)
                await self.registry.adispatch(Hook.ASYNC_FAILURE, context)
                failure = context.error
                continue
            self._finish(context, response, None)
            await self.registry.adispatch(Hook.ASYNC_SUCCESS, context)
            return response
        raise self._give_up(model, failure)

    # -- accounting ---------------------------------------------------------------------

    def stats(self) -> dict[str, DeploymentStats]:
        """A copy of the per-deployment books."""
        with self._lock:
            return {key: attrs.evolve(value) for key, value in self._stats.items()}

    def healthy(self, model: str) -> list[str]:
        """Ids of the model's deployments that are not cooling down now."""
        now = self._clock()
        with self._lock:
            return [
                d.id
                for d in self._by_model.get(model, ())
                if (until := self._stats[d.id].cooldown_until) is None or now >= until
            ]

    def _mine(self, event: object) -> bool:
        """An event of this router's own, while it is open. Call it holding ``self._lock``,
        so that once ``close()`` has returned no handler changes anything."""
        return not self._closed and getattr(event, "router_id", None) == self.id

    def _service(self, kind: str, deployment: str) -> None:
        self.registry.dispatch(Hook.SERVICE, ServiceEvent(self.id, kind, deployment))

    def _on_input(self, context: CallContext) -> None:
        """Pre-call check: skip a deployment that is cooling down; end an expired cooldown."""
        with self._lock:
            if not self._mine(context):
                return
            books = self._stats[context.deployment]
            if books.cooldown_until is None:
                return
            if self._clock() < books.cooldown_until:
                books.skipped += 1
                context.skip = True
                return
            books.cooldown_until = None
            books.consecutive_failures = 0
        self._service("cooldown_end", context.deployment)

    def _record(self, context: CallContext) -> None:
        cooled = False
        with self._lock:
            if not self._mine(context):
                return
            books = self._stats[context.deployment]
            if context.error is None:
                books.successes += 1
                books.consecutive_failures = 0
                books.total_latency_ms += context.latency_ms or 0.0
            else:
                books.failures += 1
                books.consecutive_failures += 1
                if books.consecutive_failures >= self.cooldown_failures and books.cooldown_until is None:
                    books.cooldown_until = self._clock() + self.cooldown_seconds
                    books.cooldowns += 1
                    cooled = True
        if cooled:
            self._service("cooldown_start", context.deployment)

    def _on_success(self, context: CallContext) -> None:
        self._record(context)

    def _on_failure(self, context: CallContext) -> None:
        self._record(context)

    async def _on_async_success(self, context: CallContext) -> None:
        self._record(context)

    async def _on_async_failure(self, context: CallContext) -> None:
        self._record(context)

    def _on_service(self, event: ServiceEvent) -> None:
        with self._lock:
            if self._mine(event):
                self.service_events[event.kind] += 1
