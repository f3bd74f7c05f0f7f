"""Bound methods stored as ``weakref.WeakMethod`` (issue 8): the entry dies with its owner OR its function."""

from __future__ import annotations

import gc
import types
import weakref
from collections.abc import Callable
from typing import Any

import pytest

from lifecycle import CallbackRegistry, Hook
from tests.conftest import Owner, warnings_of


def make_function() -> Callable[..., None]:
    """A fresh function, alive only as long as someone holds it (unlike a class's method)."""

    def handler(self: Owner, *args: Any) -> None:
        self.calls.append(("handler", args, {}))

    return handler


def test_the_function_s_death_removes_the_entry(registry: CallbackRegistry) -> None:
    owner = Owner()
    function = make_function()
    assert registry.add(Hook.SUCCESS, types.MethodType(function, owner)) is True
    assert registry.add(Hook.FAILURE, owner.on_failure) is True
    assert registry.callbacks(Hook.SUCCESS) == (types.MethodType(function, owner),)
    function_ref = weakref.ref(function)
    del function
    gc.collect()
    assert function_ref() is None, "the registry keeps the method's function alive"
    assert registry.count(Hook.SUCCESS) == 0 and registry.callbacks(Hook.SUCCESS) == ()
    stats = registry.stats()
    assert stats.collected == 1 and stats.owners == 1 and len(registry) == 1
    assert registry.dispatch(Hook.FAILURE, 1) == 1
    assert owner.calls == [("failure", (1,), {})]
    registry._check_invariants()  # type: ignore[attr-defined]


def test_a_dispatched_function_dies_once_its_hook_changes(registry: CallbackRegistry) -> None:
    owner = Owner()
    function = make_function()
    assert registry.add(Hook.SUCCESS, types.MethodType(function, owner)) is True
    assert registry.dispatch(Hook.SUCCESS, 1) == 1
    assert owner.calls == [("handler", (1,), {})]
    function_ref = weakref.ref(function)
    del function
    assert registry.add(Hook.SUCCESS, owner.on_success) is True  # a change: the old plan goes
    gc.collect()
    assert function_ref() is None
    assert registry.callbacks(Hook.SUCCESS) == (owner.on_success,)
    assert registry.dispatch(Hook.SUCCESS, 2) == 1
    assert registry.stats().collected == 1


def test_the_owner_s_death_still_removes_every_entry(registry: CallbackRegistry) -> None:
    owner = Owner()
    function = make_function()
    assert registry.add(Hook.SUCCESS, types.MethodType(function, owner)) is True
    assert registry.add(Hook.INPUT, owner.on_input) is True
    assert registry.stats().owners == 1
    del owner
    gc.collect()
    assert len(registry) == 0 and registry.stats().collected == 2
    registry._check_invariants()  # type: ignore[attr-defined]


def test_add_warns_once_when_the_function_would_die_at_once(
    registry: CallbackRegistry, lifecycle_log: pytest.LogCaptureFixture
) -> None:
    owner = Owner()
    held = make_function()
    assert registry.add(Hook.SUCCESS, owner.on_success) is True
    assert registry.add(Hook.SUCCESS, types.MethodType(held, owner)) is True
    assert warnings_of(lifecycle_log) == [], "a method whose function lives on is no mistake"
    registry.add(Hook.FAILURE, types.MethodType(make_function(), owner))
    [warning] = warnings_of(lifecycle_log)
    assert "handler" in warning.getMessage()
    gc.collect()
    assert registry.count(Hook.FAILURE) == 0, "the entry of a dead function lingers"
    assert registry.count(Hook.SUCCESS) == 2
