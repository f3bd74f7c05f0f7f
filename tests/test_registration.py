"""What can be registered, how it is held, and when add() refuses."""

from __future__ import annotations

import functools
import gc
import logging
import operator
import weakref
from typing import Any

import attrs
import pytest

from lifecycle import CallbackLimitError, CallbackRegistry, CustomLogger, Hook
from tests.conftest import Owner, collect, warnings_of


class Slotted:
    __slots__ = ("value",)

    def method(self) -> None:
        pass


class SlottedWeak:
    __slots__ = ("__weakref__", "value")

    def method(self) -> None:
        pass


@attrs.define(eq=True, slots=False)
class EqualOwner:
    """Compares equal to any other instance with the same name, and is unhashable."""

    name: str = "same"

    def on_success(self, *args: Any) -> None:
        pass


def plain(*args: Any) -> None:
    pass


class CallableObject:
    def __call__(self, *args: Any) -> None:
        pass


# -- kinds -------------------------------------------------------------------------------


def test_a_bound_method_does_not_keep_its_owner_alive(registry: CallbackRegistry) -> None:
    owner = Owner()
    assert registry.add(Hook.SUCCESS, owner.on_success) is True
    ref = weakref.ref(owner)
    del owner
    assert ref() is None  # refcounting alone frees it: the registry holds no strong path
    assert registry.count(Hook.SUCCESS) == 0


def test_callbacks_returns_a_bound_method_for_a_bound_method(registry: CallbackRegistry) -> None:
    owner = Owner()
    registry.add("success", owner.on_success)
    (callback,) = registry.callbacks("success")
    assert callback == owner.on_success and callback.__self__ is owner


@pytest.mark.parametrize(
    "make",
    [lambda: plain, lambda: (lambda *a: None), lambda: functools.partial(plain, 1), CallableObject, lambda: print],
)
def test_other_callables_are_held_strongly(registry: CallbackRegistry, make) -> None:  # type: ignore[no-untyped-def]
    callback = make()
    assert registry.add("input", callback)
    ident = id(callback)
    del callback
    collect()
    (held,) = registry.callbacks("input")
    assert id(held) == ident


def test_weak_false_holds_a_bound_method_strongly_until_removed(registry: CallbackRegistry) -> None:
    owner = Owner()
    registry.add("success", owner.on_success, weak=False)
    ref = weakref.ref(owner)
    del owner
    collect()
    assert ref() is not None and registry.count("success") == 1
    assert registry.remove_owner(ref()) == 1
    collect()
    assert ref() is None


def test_weak_true_holds_a_function_by_weak_reference(registry: CallbackRegistry) -> None:
    def callback(*args: Any) -> None:
        pass

    assert registry.add("input", callback, weak=True)
    assert registry.callbacks("input") == (callback,)
    del callback
    collect()
    assert registry.count("input") == 0
    assert registry.stats().collected == 1


def test_weak_true_on_a_bound_method_is_the_default(registry: CallbackRegistry) -> None:
    owner = Owner()
    assert registry.add("input", owner.on_input, weak=True)
    del owner
    assert registry.count("input") == 0


def test_strings_and_loggers_are_accepted(registry: CallbackRegistry) -> None:
    assert registry.add("success", "langfuse")
    assert registry.add("success", CustomLogger())
    assert registry.count("success") == 2


@pytest.mark.parametrize("bad", [3, None, b"name", object(), ["a"]])
def test_anything_else_is_a_type_error_naming_the_type(registry: CallbackRegistry, bad: object) -> None:
    with pytest.raises(TypeError, match=type(bad).__name__):
        registry.add("success", bad)  # type: ignore[arg-type]
    assert len(registry) == 0


def test_an_empty_name_is_a_value_error(registry: CallbackRegistry) -> None:
    with pytest.raises(ValueError, match="non-empty"):
        registry.add("success", "")


def test_weak_must_be_a_bool_or_none(registry: CallbackRegistry) -> None:
    with pytest.raises(TypeError, match="weak must be"):
        registry.add("success", plain, weak="yes")  # type: ignore[arg-type]


def test_weak_true_on_a_name_is_a_value_error(registry: CallbackRegistry) -> None:
    with pytest.raises(ValueError, match="weak=True does not apply"):
        registry.add("success", "langfuse", weak=True)


# -- owners ------------------------------------------------------------------------------


def test_owner_tags_any_callback_and_its_death_removes_it(registry: CallbackRegistry) -> None:
    owner = Owner()
    registry.add("input", plain, owner=owner)
    registry.add("success", "langfuse", owner=owner)
    registry.add("failure", CallableObject(), owner=owner)
    assert registry.stats().owners == 1
    del owner
    collect()
    assert len(registry) == 0
    assert registry.stats().collected == 3 and registry.stats().owners == 0


def test_a_different_owner_for_a_bound_method_is_a_value_error(registry: CallbackRegistry) -> None:
    a, b = Owner(), Owner()
    with pytest.raises(ValueError, match="__self__"):
        registry.add("success", a.on_success, owner=b)
    assert len(registry) == 0
    assert registry.add("success", a.on_success, owner=a)  # its own owner is fine


def test_the_registry_never_holds_an_owner_strongly(registry: CallbackRegistry) -> None:
    owner = Owner()
    registry.add("input", plain, owner=owner)
    ref = weakref.ref(owner)
    del owner
    assert ref() is None


def test_a_non_weakrefable_owner_is_a_type_error_with_the_fix(registry: CallbackRegistry) -> None:
    with pytest.raises(TypeError) as info:
        registry.add("success", Slotted().method)
    message = str(info.value)
    assert "Slotted" in message and "__weakref__" in message and "weak=False" in message
    with pytest.raises(TypeError, match="Slotted"):
        registry.add("success", plain, owner=Slotted())
    assert len(registry) == 0


def test_a_non_weakrefable_owner_with_weak_false_is_held_and_removable(registry: CallbackRegistry) -> None:
    owner = Slotted()
    assert registry.add("success", owner.method, weak=False)
    assert registry.stats().owners == 1
    assert registry.remove_owner(owner) == 1
    assert len(registry) == 0 and registry.stats().owners == 0


def test_slots_with_weakref_are_fine(registry: CallbackRegistry) -> None:
    owner = SlottedWeak()
    assert registry.add("success", owner.method)
    del owner
    assert len(registry) == 0


def test_equal_and_unhashable_owners_are_separate(registry: CallbackRegistry) -> None:
    a, b = EqualOwner(), EqualOwner()
    assert a == b
    with pytest.raises(TypeError):
        hash(a)
    assert registry.add("success", a.on_success)
    assert registry.add("success", b.on_success)
    assert registry.stats().owners == 2
    assert registry.remove_owner(a) == 1
    assert registry.callbacks("success") == (b.on_success,)
    assert registry.callbacks("success")[0].__self__ is b
    del b
    assert len(registry) == 0


# -- the self-reference warning ----------------------------------------------------------


def _closure_over(owner: object) -> Any:
    def callback(*args: Any) -> None:
        print(owner)

    return callback


def _default_arg(owner: object) -> Any:
    def callback(*args: Any, who: object = owner) -> None:
        pass

    return callback


class Holder:
    def __init__(self, owner: object) -> None:
        self.owner = owner

    def __call__(self, *args: Any) -> None:
        pass


@pytest.mark.parametrize(
    ("make", "how"),
    [
        (_closure_over, "closure variable 'owner'"),
        (lambda owner: functools.partial(plain, owner), "partial argument #0"),
        (lambda owner: functools.partial(plain, who=owner), "partial argument 'who'"),
        (_default_arg, "default argument 'who'"),
        (Holder, "attribute 'owner'"),
        (lambda owner: functools.partial(plain, [1, owner]), "item #1"),
    ],
)
def test_a_strong_callback_holding_its_owner_is_warned_about(
    registry: CallbackRegistry, lifecycle_log: pytest.LogCaptureFixture, make: Any, how: str
) -> None:
    owner = Owner()
    callback = make(owner)
    assert registry.add("success", callback, owner=owner)
    (record,) = warnings_of(lifecycle_log)
    assert how in record.getMessage() and "never be" in record.getMessage()


def test_no_warning_when_the_callback_does_not_hold_the_owner(
    registry: CallbackRegistry, lifecycle_log: pytest.LogCaptureFixture
) -> None:
    owner = Owner()
    registry.add("success", functools.partial(plain, 1), owner=owner)
    registry.add("success", _closure_over(Owner()), owner=owner)
    registry.add("success", _closure_over(owner), owner=owner, weak=True)  # weakly held: it can die
    assert warnings_of(lifecycle_log) == []


# -- duplicates --------------------------------------------------------------------------


def test_duplicates_per_hook(registry: CallbackRegistry) -> None:
    owner = Owner()
    assert registry.add("success", owner.on_success)
    assert not registry.add("success", owner.on_success)
    assert registry.add("failure", owner.on_success)  # another hook: not a duplicate
    assert registry.add("success", owner.on_failure)  # another function: not a duplicate
    assert registry.add("success", Owner().on_success) is True  # another owner
    assert registry.add("input", "langfuse") and not registry.add("input", "langfuse")
    assert registry.add("input", plain) and not registry.add("input", plain)
    stats = registry.stats()
    assert stats.duplicates == 3


def test_the_same_function_through_different_objects_is_not_a_duplicate(registry: CallbackRegistry) -> None:
    assert registry.add("input", functools.partial(plain, 1))
    assert registry.add("input", functools.partial(plain, 1))


def test_duplicates_are_checked_before_the_limit(lifecycle_log: pytest.LogCaptureFixture) -> None:
    registry = CallbackRegistry(max_callbacks=2, on_limit="raise")
    owner = Owner()
    registry.add("success", owner.on_success)
    registry.add("success", owner.on_failure)
    assert registry.add("success", owner.on_success) is False  # full, but a duplicate: no raise
    assert [r for r in lifecycle_log.records if r.levelno > logging.DEBUG] == []


# -- the limit ---------------------------------------------------------------------------


def test_the_limit_warns_once_per_refusal(lifecycle_log: pytest.LogCaptureFixture) -> None:
    registry = CallbackRegistry(max_callbacks=3, name="small")
    owners = [Owner() for _ in range(5)]
    results = [registry.add("success", o.on_success) for o in owners]
    assert results == [True, True, True, False, False]
    warnings = warnings_of(lifecycle_log)
    assert len(warnings) == 2
    assert "max_callbacks=3" in warnings[0].getMessage() and "'success'" in warnings[0].getMessage()
    assert registry.stats().refused == 2
    assert registry.add("failure", owners[4].on_failure)  # the limit is per hook


def test_the_limit_raises_when_asked() -> None:
    registry = CallbackRegistry(max_callbacks=1, on_limit="raise")
    registry.add("success", Owner().on_success, weak=False)
    with pytest.raises(CallbackLimitError, match="max_callbacks=1"):
        registry.add("success", plain)
    assert registry.count("success") == 1


def test_dead_owners_free_their_places() -> None:
    registry = CallbackRegistry(max_callbacks=2)
    for _ in range(10):
        owner = Owner()
        assert registry.add("success", owner.on_success)
        assert registry.add("success", owner.on_failure)
        del owner
    assert registry.count("success") == 0


def test_owners_in_cycles_free_their_places_after_a_collection() -> None:
    registry = CallbackRegistry(max_callbacks=2)
    for _ in range(5):
        owner = Owner()
        owner.me = owner  # type: ignore[attr-defined]
        registry.add("success", owner.on_success)
        del owner
        gc.collect()
    assert registry.count("success") == 0


@pytest.mark.parametrize(
    "kwargs",
    [{"max_callbacks": 0}, {"max_callbacks": True}, {"max_callbacks": "3"}, {"on_limit": "ignore"}],
)
def test_bad_constructor_arguments_are_value_errors(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        CallbackRegistry(**kwargs)


def test_bad_catalog_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="Catalog"):
        CallbackRegistry(catalog={})  # type: ignore[arg-type]


# -- conveniences ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "hook"),
    [
        ("add_input_callback", Hook.INPUT),
        ("add_success_callback", Hook.SUCCESS),
        ("add_failure_callback", Hook.FAILURE),
        ("add_async_success_callback", Hook.ASYNC_SUCCESS),
        ("add_async_failure_callback", Hook.ASYNC_FAILURE),
        ("add_service_callback", Hook.SERVICE),
        ("add_callback", Hook.CALLBACKS),
    ],
)
def test_each_convenience_adds_to_its_hook(registry: CallbackRegistry, method: str, hook: Hook) -> None:
    owner = Owner()
    assert getattr(registry, method)(owner.on_success) is True
    assert getattr(registry, method)(owner.on_success) is False
    assert registry.callbacks(hook) == (owner.on_success,)
    assert len(registry) == 1


async def _coroutine_function(*args: Any) -> None:
    pass


def test_success_and_failure_route_coroutine_functions_to_async_hooks(registry: CallbackRegistry) -> None:
    owner = Owner()
    registry.add_success_callback(owner.on_async)
    registry.add_failure_callback(_coroutine_function)
    registry.add_success_callback("langfuse")
    assert registry.callbacks(Hook.ASYNC_SUCCESS) == (owner.on_async,)
    assert registry.callbacks(Hook.ASYNC_FAILURE) == (_coroutine_function,)
    assert registry.callbacks(Hook.SUCCESS) == ("langfuse",)


class SlottedInt(int):
    __slots__ = ()  # a subclass of int cannot add '__weakref__' to __slots__ at all

    def method(self) -> None:
        pass


@pytest.mark.parametrize("owner", [7, "text", (1, 2), SlottedInt(3)])
def test_the_hint_for_an_owner_tag_that_cannot_be_weakly_referenced_works(
    registry: CallbackRegistry, owner: object
) -> None:
    with pytest.raises(TypeError) as info:
        registry.add("success", plain, owner=owner)
    message = str(info.value)
    assert type(owner).__qualname__ in message
    assert "__slots__" not in message  # the class cannot get '__weakref__'
    assert "weak=False" not in message  # an owner tag is always held weakly: weak=False changes nothing
    with pytest.raises(TypeError):
        registry.add("success", plain, owner=owner, weak=False)
    assert "leave owner= out" in message and "instance of a class of your own" in message
    assert registry.add("success", plain)  # following the hint works
    assert registry.add("success", lambda: None, owner=Owner())
    with pytest.raises(TypeError) as info:
        registry.bind(owner)
    assert "__slots__" not in str(info.value) and "weak=False" not in str(info.value)


def test_the_hint_for_a_bound_method_of_an_unfixable_class_says_weak_false(registry: CallbackRegistry) -> None:
    method = SlottedInt(3).method
    with pytest.raises(TypeError) as info:
        registry.add("success", method)
    message = str(info.value)
    assert "SlottedInt" in message and "weak=False" in message and "__slots__" not in message
    assert registry.add("success", method, weak=False)  # following the hint works


def test_the_slots_hint_is_given_where_adding_weakref_works(registry: CallbackRegistry) -> None:
    with pytest.raises(TypeError) as info:
        registry.add("success", plain, owner=Slotted())
    message = str(info.value)
    assert "add '__weakref__' to Slotted.__slots__" in message and "weak=False" not in message
    assert registry.add("success", plain, owner=SlottedWeak())  # following it works


def test_weak_true_on_a_callable_that_cannot_be_weakly_referenced_says_leave_weak_out(
    registry: CallbackRegistry,
) -> None:
    callback = operator.itemgetter(0)  # a C callable without weak reference support
    with pytest.raises(TypeError) as info:
        registry.add("success", callback, weak=True)
    message = str(info.value)
    assert "leave weak= out" in message and "__slots__" not in message
    assert registry.add("success", callback)
