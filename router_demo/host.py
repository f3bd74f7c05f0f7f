"""Hot reload: build the new router, swap it in atomically, then close the old one."""

from __future__ import annotations

import threading
from collections.abc import Hashable, Sequence
from typing import Any

from lifecycle import CallbackRegistry, CustomLogger, Hook, callback_key
from router_demo.config import ConfigSource, RouterConfig, load_config
from router_demo.errors import HostClosedError, RouterClosedError
from router_demo.integrations import build_integration
from router_demo.provider import Message
from router_demo.router import Router, registry_or_default

#: The hooks an integration listens on: before the call, after it (sync and async), service events.
INTEGRATION_HOOKS = (Hook.INPUT, Hook.CALLBACKS, Hook.SERVICE)


class RouterHost:
    """Holds the current router of a long-lived service and reloads it from configuration.

    ``reload`` validates the new configuration first (a bad one raises
    ``ConfigError`` and changes nothing), builds the new router, swaps it in
    with one assignment (requests already running finish on the old router),
    then closes the old one. Integrations are process-wide, like the
    registry: the host registers them with itself as owner, keeps the ones a
    reload does not change (their counters go on), and removes the ones the new
    configuration drops.

    ``leaky=True`` reproduces the classic mistake for the demo: routers hold
    their callbacks strongly (``weak=False``) and old routers are never closed.
    After ``close()`` the host reloads nothing more (``HostClosedError``).
    """

    def __init__(
        self, config: ConfigSource, *, registry: CallbackRegistry | None = None, leaky: bool = False
    ) -> None:
        if not isinstance(leaky, bool):
            raise TypeError(f"leaky must be True or False, got {leaky!r}")
        self.registry = registry_or_default(registry)
        self.leaky = leaky
        self._reload_lock = threading.Lock()
        self._closed = False
        self._integrations: dict[Hashable, CustomLogger] = {}
        self.reloads = 0
        self.config = load_config(config)
        integrations = self._build_integrations(self.config)
        self._router = self._build(self.config)
        self._apply_integrations(integrations)

    @property
    def router(self) -> Router:
        """The current router."""
        return self._router

    @property
    def integrations(self) -> tuple[CustomLogger, ...]:
        """The integration objects this host has registered."""
        return tuple(self._integrations.values())

    def _build(self, config: RouterConfig) -> Router:
        return Router(
            config.model_list,
            registry=self.registry,
            seed=config.seed,
            cooldown_failures=config.cooldown_failures,
            cooldown_seconds=config.cooldown_seconds,
            weak=not self.leaky,
        )

    @staticmethod
    def _build_integrations(config: RouterConfig) -> list[CustomLogger]:
        """The configuration's integrations; ``ConfigError`` for one that cannot start, before anything changes."""
        return [build_integration(spec, f"integrations[{index}]") for index, spec in enumerate(config.integrations)]

    def _check_open(self) -> None:
        if self._closed:
            raise HostClosedError("this RouterHost is closed; build a new RouterHost to serve again")

    def _register(self, logger: CustomLogger) -> None:
        for hook in INTEGRATION_HOOKS:
            self.registry.add(hook, logger, owner=self)

    def _apply_integrations(self, wanted: Sequence[CustomLogger]) -> None:
        keys = {callback_key(logger): logger for logger in wanted}
        for key in list(self._integrations):
            if key not in keys:
                self.registry.remove(self._integrations.pop(key))
        for key, logger in keys.items():
            if key not in self._integrations:
                self._integrations[key] = logger
                self._register(logger)

    def reload(self, config: ConfigSource) -> Router:
        """Replace the router with one built from ``config``; returns the new router."""
        self._check_open()  # before building anything; checked again under the lock
        new_config = load_config(config)
        integrations = self._build_integrations(new_config)
        with self._reload_lock:
            self._check_open()
            new_router = self._build(new_config)
            old_router, self._router = self._router, new_router
            self._apply_integrations(integrations)
            self.config = new_config
            self.reloads += 1
        if not self.leaky:
            old_router.close()
        return new_router

    def swap_integration(self, old_type: type[CustomLogger], new_logger: CustomLogger) -> int:
        """Replace every integration of ``old_type`` by ``new_logger``; how many entries were removed."""
        if not isinstance(new_logger, CustomLogger):
            raise TypeError(f"new_logger must be a lifecycle.CustomLogger, got {type(new_logger).__name__}")
        with self._reload_lock:
            self._check_open()
            removed = self.registry.remove_by_type(old_type)
            for key, logger in list(self._integrations.items()):
                if isinstance(logger, old_type):
                    del self._integrations[key]
            self._integrations[callback_key(new_logger)] = new_logger
            self._register(new_logger)
        return removed

    def completion(self, model: str, messages: Sequence[Message]) -> dict[str, Any]:
        """``router.completion`` on the current router, even across a concurrent reload."""
        while True:
            router = self._router
            try:
                return router.completion(model, messages)
            except RouterClosedError:
                if router is self._router:
                    self._check_open()
                    raise

    async def acompletion(self, model: str, messages: Sequence[Message]) -> dict[str, Any]:
        """``router.acompletion`` on the current router, even across a concurrent reload."""
        while True:
            router = self._router
            try:
                return await router.acompletion(model, messages)
            except RouterClosedError:
                if router is self._router:
                    self._check_open()
                    raise

    def close(self) -> None:
        """Close the current router and remove the host's integrations. Idempotent; no reload after it."""
        with self._reload_lock:
            self._closed = True
            self._router.close()
            self.registry.remove_owner(self)
            self._integrations.clear()
