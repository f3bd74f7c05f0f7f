"""Three integrations that do something observable, registered in ``lifecycle.catalog``.

Configuration files name them (``"metrics"``, ``"console"``, ``"jsonl"``) or
give a table with options (``{name = "jsonl", path = "events.jsonl"}``). A
configuration item is checked here (``check_integration``: a known name, known
options of the right type) before anything is built, and an integration that
cannot start (a path that cannot be written) is a ``ConfigError`` too: a
mistake in the configuration says so in one line instead of failing at every event.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from collections import Counter
from collections.abc import Mapping
from typing import IO, Any

from lifecycle import BadIntegrationError, CustomLogger, UnknownIntegrationError, catalog
from router_demo.errors import ConfigError


def event_of(args: tuple[Any, ...]) -> dict[str, Any]:
    """A JSON-ready description of what a hook was dispatched with."""
    if args and hasattr(args[0], "as_event"):
        return dict(args[0].as_event())
    return {"args": [repr(arg) for arg in args]}


class _EventSink(CustomLogger):
    """Routes every event method to ``record(kind, event)``."""

    def record(self, kind: str, event: dict[str, Any]) -> None:
        raise NotImplementedError

    def log_pre_api_call(self, *args: Any, **kwargs: Any) -> None:
        self.record("pre_call", event_of(args))

    def log_success_event(self, *args: Any, **kwargs: Any) -> None:
        self.record("success", event_of(args))

    def log_failure_event(self, *args: Any, **kwargs: Any) -> None:
        self.record("failure", event_of(args))

    async def async_log_success_event(self, *args: Any, **kwargs: Any) -> None:
        self.record("async_success", event_of(args))

    async def async_log_failure_event(self, *args: Any, **kwargs: Any) -> None:
        self.record("async_failure", event_of(args))

    def log_service_event(self, *args: Any, **kwargs: Any) -> None:
        self.record("service", event_of(args))


class MetricsLogger(_EventSink):
    """Counts events by kind (and successes/failures by deployment). Thread-safe."""

    def __init__(self, label: str = "metrics") -> None:
        self.label = label
        self.events: Counter[str] = Counter()
        self.by_deployment: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def record(self, kind: str, event: dict[str, Any]) -> None:
        with self._lock:
            self.events[kind] += 1
            deployment = event.get("deployment")
            if deployment is not None:
                self.by_deployment[(str(deployment), kind)] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.events)


class ConsoleLogger(_EventSink):
    """One line per event, on ``stream`` or, by default, the ``router_demo.console`` logger (INFO)."""

    def __init__(self, stream: IO[str] | None = None, prefix: str = "router") -> None:
        self.prefix = prefix
        self.stream = stream
        self._log = logging.getLogger("router_demo.console")

    def record(self, kind: str, event: dict[str, Any]) -> None:
        line = f"{self.prefix} {kind}: " + " ".join(f"{k}={v}" for k, v in sorted(event.items()))
        if self.stream is not None:
            self.stream.write(line + "\n")
        else:
            self._log.info(line)


class JsonlLogger(_EventSink):
    """Appends one JSON object per event to ``path``. Thread-safe; opens the file per write.

    Construction opens ``path`` for appending once (creating the file), so that a
    path that cannot be written fails here, before any event, with an ``OSError``.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._lock = threading.Lock()
        open(self.path, "a", encoding="utf-8").close()  # only to fail now if it cannot be written

    def record(self, kind: str, event: dict[str, Any]) -> None:
        line = json.dumps({"kind": kind, **event}, default=str, sort_keys=True)
        with self._lock, open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")


def default_jsonl_path() -> str:
    """Where the catalog's ``"jsonl"`` writes: ``$ROUTER_DEMO_JSONL``, else the temp folder."""
    return os.environ.get("ROUTER_DEMO_JSONL") or os.path.join(tempfile.gettempdir(), "router_demo_events.jsonl")


#: The integrations a configuration table can build with options: class, options and their types, required ones.
_BUILT_IN: dict[str, tuple[type[_EventSink], dict[str, type], tuple[str, ...]]] = {
    "metrics": (MetricsLogger, {"label": str}, ()),
    "console": (ConsoleLogger, {"prefix": str}, ()),
    "jsonl": (JsonlLogger, {"path": str}, ("path",)),
}


def _known(name: str, where: str) -> None:
    if catalog.factory(name) is None and name not in _BUILT_IN:
        known = ", ".join(map(repr, catalog.names())) or "none"
        raise ConfigError(
            f"{where}: no integration named {name!r} (known: {known}); "
            f"register it with lifecycle.catalog.register(name, factory)"
        )


def check_integration(spec: object, where: str = "integration") -> None:
    """Check one configuration item without building it; ``ConfigError`` saying what is wrong.

    A name the catalog knows, or a table ``{name = ..., **options}``: the
    built-in integrations take the options in ``_BUILT_IN`` (with their
    types, some required); any other catalog name takes none.
    """
    if isinstance(spec, str) and spec:
        _known(spec, where)
        return
    if not (isinstance(spec, Mapping) and isinstance(spec.get("name"), str) and spec["name"]):
        raise ConfigError(f"{where} must be a name or a table with a 'name' key, got {spec!r}")
    name = spec["name"]
    _known(name, where)
    options = {key: value for key, value in spec.items() if key != "name"}
    takes, required = (_BUILT_IN[name][1], _BUILT_IN[name][2]) if name in _BUILT_IN else ({}, ())
    for option in options:
        if option not in takes:
            it_takes = sorted(takes) if takes else "none"
            raise ConfigError(f"{where}: unknown option {option!r} for {name!r}; it takes {it_takes}")
    for option in required:
        if option not in options:
            raise ConfigError(f"{where}: {name!r} needs the option {option!r}")
    for option, value in options.items():
        if not isinstance(value, takes[option]):
            raise ConfigError(
                f"{where}: option {option!r} of {name!r} must be a {takes[option].__name__}, got {value!r}"
            )


def _cannot_start(name: str, where: str, error: Exception) -> ConfigError:
    if isinstance(error, OSError) and error.filename is not None:
        reason = f"{error.filename}: {error.strerror}"
    else:
        reason = str(error)
    return ConfigError(f"{where}: integration {name!r} cannot start: {reason}")


def build_integration(spec: str | Mapping[str, Any], where: str = "integration") -> CustomLogger:
    """An integration from a configuration item: a catalog name, or a table ``{name = ..., **options}``.

    ``ConfigError`` for an item ``check_integration`` rejects, and for an
    integration that cannot start (an ``OSError``, or a catalog factory that
    returns no ``CustomLogger``).
    """
    check_integration(spec, where)
    name = spec if isinstance(spec, str) else spec["name"]
    try:
        if isinstance(spec, str) or name not in _BUILT_IN:
            return catalog.resolve(name)
        options = {key: value for key, value in spec.items() if key != "name"}
        return _BUILT_IN[name][0](**options)
    except (OSError, BadIntegrationError, UnknownIntegrationError) as error:
        raise _cannot_start(name, where, error) from None


catalog.register("metrics", MetricsLogger)
catalog.register("console", ConsoleLogger)
catalog.register("jsonl", lambda: JsonlLogger(default_jsonl_path()))
