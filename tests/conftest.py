from __future__ import annotations

import gc
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from lifecycle import CallbackRegistry, Catalog


class Owner:
    """A plain owner with a few methods that record their calls."""

    def __init__(self, name: str = "owner") -> None:
        self.name = name
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def on_input(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append(("input", args, kwargs))

    def on_success(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append(("success", args, kwargs))

    def on_failure(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append(("failure", args, kwargs))

    async def on_async(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append(("async", args, kwargs))


@pytest.fixture
def catalog() -> Catalog:
    return Catalog()


@pytest.fixture
def registry(catalog: Catalog) -> CallbackRegistry:
    return CallbackRegistry(catalog=catalog, name="test")


@pytest.fixture
def lifecycle_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG, logger="lifecycle")
    yield caplog


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "lifecycle" and r.levelno >= logging.WARNING]


def collect() -> None:
    for _ in range(3):
        gc.collect()
