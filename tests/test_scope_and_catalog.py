from __future__ import annotations

import weakref
from typing import Any

import pytest

from lifecycle import (
    CallbackRegistry,
    Catalog,
    CustomLogger,
    LifecycleError,
    UnknownIntegrationError,
    catalog,
    default_registry,
)
from tests.conftest import Owner, collect


def plain(*args: Any) -> None:
    pass


def test_scope_registers_with_the_owner_and_close_removes_all(registry: CallbackRegistry) -> None:
    owner = Owner()
    other = Owner()
    registry.add("success", other.on_success)
    scope = registry.bind(owner)
    assert scope.add("input", owner.on_input)
    assert scope.add("success", plain)
    assert not scope.add("success", plain)
    assert registry.stats().owners == 2
    assert scope.close() == 2
    assert scope.close() == 0
    assert scope.closed
    assert registry.callbacks("success") == (other.on_success,)
    with pytest.raises(LifecycleError, match="closed"):
        scope.add("input", plain)


def test_scope_is_a_context_manager(registry: CallbackRegistry) -> None:
    owner = Owner()
    with registry.bind(owner) as scope:
        scope.add("input", owner.on_input)
        assert len(registry) == 1
    assert len(registry) == 0


def test_scope_holds_its_owner_weakly(registry: CallbackRegistry) -> None:
    owner = Owner()
    scope = registry.bind(owner)
    scope.add("input", plain)
    ref = weakref.ref(owner)
    del owner
    collect()
    assert ref() is None and scope.owner is None
    assert len(registry) == 0
    with pytest.raises(LifecycleError, match="garbage collected"):
        scope.add("input", plain)
    assert scope.close() == 0


def test_bind_rejects_owners_it_cannot_watch(registry: CallbackRegistry) -> None:
    class Slotted:
        __slots__ = ()

    with pytest.raises(TypeError, match="__weakref__"):
        registry.bind(Slotted())
    with pytest.raises(ValueError):
        registry.bind(None)


def test_catalog_register_resolve_names() -> None:
    local = Catalog()

    class Thing(CustomLogger):
        pass

    local.register("thing", Thing)
    local.register("alpha", lambda: Thing())
    assert local.names() == ("alpha", "thing")
    first, second = local.resolve("thing"), local.resolve("thing")
    assert isinstance(first, Thing) and first is not second
    with pytest.raises(UnknownIntegrationError, match="'thing'") as info:
        local.resolve("nope")
    assert isinstance(info.value, LookupError)


@pytest.mark.parametrize(("name", "factory", "error"), [("", CustomLogger, ValueError), ("x", 3, TypeError)])
def test_catalog_rejects_bad_registrations(name: str, factory: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        Catalog().register(name, factory)


def test_catalog_checks_what_a_factory_returns() -> None:
    local = Catalog()
    local.register("bad", lambda: "not a logger")  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match="CustomLogger"):
        local.resolve("bad")


def test_process_wide_defaults_exist() -> None:
    assert isinstance(default_registry, CallbackRegistry)
    assert isinstance(catalog, Catalog)
    assert default_registry.catalog is catalog
