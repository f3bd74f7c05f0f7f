"""Removal, collection of dead owners, and the statistics that count them."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import pytest

from lifecycle import CallbackRegistry, Catalog, CustomLogger, Hook
from tests.conftest import Owner, collect


def plain(*args: Any) -> None:
    pass


class Metrics(CustomLogger):
    pass


class FancyMetrics(Metrics):
    pass


class Tracing(CustomLogger):
    pass


def test_remove_in_one_hook_or_all(registry: CallbackRegistry) -> None:
    owner = Owner()
    for hook in ("input", "success", "failure"):
        registry.add(hook, owner.on_success)
    assert registry.remove(owner.on_success, "input") == 1
    assert registry.remove(owner.on_success, "input") == 0
    assert registry.remove(owner.on_success) == 2
    assert len(registry) == 0
    assert registry.stats().removed == 3


def test_remove_matches_owner_by_identity(registry: CallbackRegistry) -> None:
    a, b = Owner(), Owner()
    registry.add("success", a.on_success)
    assert registry.remove(b.on_success) == 0
    assert registry.remove(a.on_success) == 1


def test_remove_rejects_what_could_never_be_registered(registry: CallbackRegistry) -> None:
    with pytest.raises(TypeError):
        registry.remove(42)  # type: ignore[arg-type]


def test_remove_owner_removes_everything_of_that_owner_only(registry: CallbackRegistry) -> None:
    a, b = Owner(), Owner()
    registry.add("input", a.on_input)
    registry.add("success", a.on_success)
    registry.add("failure", plain, owner=a)
    registry.add("success", b.on_success)
    assert registry.remove_owner(a) == 3
    assert registry.remove_owner(a) == 0
    assert registry.callbacks("success") == (b.on_success,)
    assert registry.stats().owners == 1


def finalizers(obj: object) -> int:
    """Weak references to ``obj`` that carry a callback."""
    return sum(1 for ref in weakref.getweakrefs(obj) if ref.__callback__ is not None)


def test_remove_owner_cancels_the_finalizer(registry: CallbackRegistry) -> None:
    owner = Owner()
    registry.add("success", owner.on_success)
    assert finalizers(owner) == 1
    registry.remove_owner(owner)
    assert weakref.getweakrefcount(owner) == 0  # the finalizer and the dispatch reference are gone
    del owner
    assert registry.stats().collected == 0 and registry.stats().removed == 1


def test_one_finalizer_per_owner_per_registry(registry: CallbackRegistry) -> None:
    owner = Owner()
    for hook in Hook:
        registry.add(hook, owner.on_success)
        registry.add(hook, owner.on_failure)
    assert finalizers(owner) == 1
    other = CallbackRegistry()
    other.add("success", owner.on_success)
    assert finalizers(owner) == 2


def test_remove_owner_uses_identity_never_equality(registry: CallbackRegistry) -> None:
    class Equal(Owner):
        def __eq__(self, other: object) -> bool:
            return True

        __hash__ = None  # type: ignore[assignment]

    a, b = Equal(), Equal()
    registry.add("success", a.on_success)
    assert registry.remove_owner(b) == 0
    assert registry.remove_owner(a) == 1


def test_remove_by_type_matches_callbacks_and_owners_with_subclasses(registry: CallbackRegistry) -> None:
    owner = Owner()
    registry.add("success", Metrics())
    registry.add("failure", FancyMetrics())
    registry.add("success", Tracing())
    registry.add("success", owner.on_success)
    registry.add("input", plain, owner=owner)
    assert registry.remove_by_type(Metrics) == 2
    assert registry.remove_by_type(Owner, "input") == 1
    assert registry.remove_by_type(Owner) == 1
    assert [type(c) for c in registry.callbacks("success")] == [Tracing]


def test_remove_by_type_sees_through_integration_names(catalog: Catalog) -> None:
    catalog.register("metrics", Metrics)
    catalog.register("tracing", Tracing)
    catalog.register("made", lambda: FancyMetrics())
    registry = CallbackRegistry(catalog=catalog)
    for name in ("metrics", "tracing", "made"):
        registry.add("success", name)
    assert registry.remove_by_type(Metrics) == 1  # "made" is not resolved yet and its factory is no class
    registry.dispatch("success")  # resolves "made" to a FancyMetrics
    assert registry.remove_by_type(Metrics) == 1
    assert registry.callbacks("success") == ("tracing",)


def test_remove_by_type_needs_a_class(registry: CallbackRegistry) -> None:
    with pytest.raises(TypeError, match="class"):
        registry.remove_by_type("Metrics")  # type: ignore[arg-type]


def test_clear(registry: CallbackRegistry) -> None:
    owner = Owner()
    registry.add("input", owner.on_input)
    registry.add("success", owner.on_success)
    registry.add("success", plain)
    assert registry.clear("success") == 2
    assert registry.clear() == 1
    assert len(registry) == 0 and registry.stats().owners == 0


def test_a_dead_owner_leaves_every_hook_and_is_counted_as_collected(registry: CallbackRegistry) -> None:
    owner = Owner()
    for hook in Hook:
        registry.add(hook, owner.on_success)
    keep = Owner()
    registry.add("success", keep.on_success)
    del owner
    assert len(registry) == 1
    stats = registry.stats()
    assert stats.collected == len(Hook) and stats.owners == 1 and stats.removed == 0


def test_after_gc_collect_no_query_sees_an_owner_that_died_in_a_cycle(registry: CallbackRegistry) -> None:
    owner = Owner()
    owner.cycle = [owner]  # type: ignore[attr-defined]
    registry.add("success", owner.on_success)
    registry.add("input", plain, owner=owner)
    del owner
    gc.collect()
    assert len(registry) == 0
    assert registry.count("success") == 0
    assert registry.callbacks("success") == ()
    assert registry.stats().per_hook["success"] == 0 and registry.stats().owners == 0


def test_nothing_is_left_behind_in_any_index(registry: CallbackRegistry) -> None:
    for _ in range(50):
        owner = Owner()
        registry.add("success", owner.on_success)
        registry.add("input", plain, owner=owner)
        registry.add("failure", lambda *a: None, weak=True)
        del owner
    collect()
    assert len(registry) == 0
    registry._check_invariants()  # with no entries, no anchor or key may be left either


def test_stats_counts_everything() -> None:
    registry = CallbackRegistry(max_callbacks=2)
    a, b, c = Owner(), Owner(), Owner()
    registry.add("success", a.on_success)
    registry.add("success", a.on_success)  # duplicate
    registry.add("success", b.on_success)
    registry.add("success", c.on_success)  # refused
    registry.add("input", c.on_input)
    registry.remove(b.on_success)
    del a
    stats = registry.stats()
    assert (stats.added, stats.duplicates, stats.refused, stats.removed, stats.collected) == (3, 1, 1, 1, 1)
    assert dict(stats.per_hook) == {h.value: 0 for h in Hook} | {"input": 1}
    assert stats.owners == 1 and stats.total == 1 == len(registry)
    with pytest.raises(TypeError):
        stats.per_hook["input"] = 5  # type: ignore[index]


def test_the_function_of_a_weak_callable_dying_counts_as_collected(registry: CallbackRegistry) -> None:
    owner = Owner()
    registry.add("success", lambda *a: None, owner=owner, weak=True)
    collect()
    assert len(registry) == 0 and registry.stats().collected == 1 and registry.stats().owners == 0


@pytest.mark.parametrize("bad", [42, None, 3.5])
def test_remove_of_something_that_cannot_be_registered_says_remove(bad: object) -> None:
    registry = CallbackRegistry()
    with pytest.raises(TypeError) as info:
        registry.remove(bad)  # type: ignore[arg-type]
    message = str(info.value)
    assert message.startswith("remove()") and type(bad).__name__ in message and "cannot register" not in message
    assert "bound method" in message and "CustomLogger" in message
