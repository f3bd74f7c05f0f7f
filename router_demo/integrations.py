"""Three integrations that do something observable, registered in ``lifecycle.catalog``.

Configuration files name them (``"metrics"``, ``"console"``, ``"jsonl"``) or
give a table with arguments (``{name = "jsonl", path = "events.jsonl"}``).
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

from lifecycle import CustomLogger, catalog


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
    """Appends one JSON object per event to ``path``. Thread-safe; opens the file per write."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._lock = threading.Lock()

    def record(self, kind: str, event: dict[str, Any]) -> None:
        line = json.dumps({"kind": kind, **event}, default=str, sort_keys=True)
        with self._lock, open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")


def default_jsonl_path() -> str:
    """Where the catalog's ``"jsonl"`` writes: ``$ROUTER_DEMO_JSONL``, else the temp folder."""
    return os.environ.get("ROUTER_DEMO_JSONL") or os.path.join(tempfile.gettempdir(), "router_demo_events.jsonl")


_BY_NAME: dict[str, type[_EventSink]] = {"metrics": MetricsLogger, "console": ConsoleLogger, "jsonl": JsonlLogger}


def build_integration(spec: str | Mapping[str, Any]) -> CustomLogger:
    """An integration from a config item: a catalog name, or a table ``{name = ..., **arguments}``."""
    if isinstance(spec, str):
        return catalog.resolve(spec)
    arguments = {key: value for key, value in spec.items() if key != "name"}
    cls = _BY_NAME.get(spec["name"])
    if cls is None:
        if arguments:
            raise TypeError(f"integration {spec['name']!r} takes no arguments from the config, got {arguments}")
        return catalog.resolve(spec["name"])
    try:
        return cls(**arguments)
    except TypeError as error:
        raise TypeError(f"integration {spec['name']!r}: {error}") from None


catalog.register("metrics", MetricsLogger)
catalog.register("console", ConsoleLogger)
catalog.register("jsonl", lambda: JsonlLogger(default_jsonl_path()))
