"""The integration catalog: names that configuration files can use."""

from __future__ import annotations

import logging
from collections.abc import Callable

from lifecycle.errors import BadIntegrationError, UnknownIntegrationError
from lifecycle.integrations import CustomLogger

LoggerFactory = Callable[[], CustomLogger]

_log = logging.getLogger("lifecycle")


class Catalog:
    """Maps an integration name to a factory of ``CustomLogger`` instances.

    A registry resolves a string entry through its catalog at dispatch time,
    once, and reuses the instance. Registering a name again replaces the
    factory for registries that have not resolved the name yet.
    """

    def __init__(self) -> None:
        # No lock: a dict assignment or lookup is atomic, and a lock here would be
        # one more thing a forked child could inherit held.
        self._factories: dict[str, LoggerFactory] = {}

    def register(self, name: str, factory: LoggerFactory) -> None:
        """Make ``name`` resolve to ``factory()``."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"an integration name must be a non-empty string, got {name!r}")
        if not callable(factory):
            raise TypeError(
                f"the factory for {name!r} must be callable (a CustomLogger subclass or "
                f"a function returning one), got {type(factory).__name__}"
            )
        self._factories[name] = factory

    def factory(self, name: str) -> LoggerFactory | None:
        """The factory registered under ``name``, or ``None``."""
        return self._factories.get(name)

    def resolve(self, name: str) -> CustomLogger:
        """A new instance of the integration called ``name``."""
        factory = self._factories.get(name)
        if factory is None:
            known = ", ".join(map(repr, self.names())) or "none"
            raise UnknownIntegrationError(
                f"no integration named {name!r} in the catalog (known: {known}); "
                f"register it with catalog.register(name, factory)"
            )
        logger = factory()
        if not isinstance(logger, CustomLogger):
            raise BadIntegrationError(
                f"the factory for integration {name!r} returned a {type(logger).__name__}, "
                f"expected a lifecycle.CustomLogger; register a factory that returns one"
            )
        return logger

    def names(self) -> tuple[str, ...]:
        """The registered names, sorted."""
        return tuple(sorted(self._factories))


#: The process-wide catalog that registries use unless given ``catalog=``.
catalog = Catalog()


class ResolvedIntegrations:
    """One registry's integration instances: each name resolved once, then reused.

    A name that cannot be resolved is a configuration error of that name: the
    catalog does not know it, or its factory returned something that is not a
    ``CustomLogger``. Either is logged once (one line, no traceback: nothing
    crashed) and the name is skipped, not counted as called. The failed
    factory is not called again on every dispatch; registering the name (again)
    makes the next dispatch try the new factory.

    There is no lock: the factory (user code) runs outside any lock, and if
    two threads resolve the same name at once, both call it and the first
    instance stored is the one every dispatch uses from then on
    (``dict.setdefault`` is atomic).
    """

    def __init__(self, source: Catalog, registry_name: str) -> None:
        self._catalog = source
        self._registry_name = registry_name
        self._instances: dict[str, CustomLogger] = {}
        #: name -> the factory that failed for it (``None``: the name was unknown).
        self._failed: dict[str, LoggerFactory | None] = {}

    def peek(self, name: str) -> CustomLogger | None:
        """The instance already resolved for ``name``, without creating one."""
        return self._instances.get(name)

    def factory(self, name: str) -> LoggerFactory | None:
        return self._catalog.factory(name)

    def resolve(self, name: str) -> CustomLogger | None:
        instance = self._instances.get(name)
        if instance is not None:
            return instance
        factory = self._catalog.factory(name)
        if name in self._failed and self._failed[name] is factory:
            return None  # already reported, and nothing changed since
        try:
            instance = self._catalog.resolve(name)
        except (UnknownIntegrationError, BadIntegrationError) as error:
            self._failed[name] = factory
            _log.error("registry %r skips %s", self._registry_name, error)
            return None
        self._failed.pop(name, None)
        return self._instances.setdefault(name, instance)
