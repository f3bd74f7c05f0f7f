"""How integration objects are deduplicated."""

from __future__ import annotations

import enum
from typing import Any

import attrs
import pytest

from lifecycle import CallbackRegistry, CustomLogger, callback_key


class Level(enum.Enum):
    LOW = 1
    HIGH = 2


class Configured(CustomLogger):
    def __init__(self, url: str = "u", level: Level = Level.LOW, **extra: Any) -> None:
        self.url = url
        self.level = level
        self.client = object()  # not primitive: not part of the key
        self._private = extra.get("private", 0)  # private: not part of the key
        for name, value in extra.items():
            if name != "private":
                setattr(self, name, value)


class OtherClass(Configured):
    pass


class SlottedLogger(CustomLogger):
    __slots__ = ("project", "unset")  # values live in slots, not in __dict__

    def __init__(self, project: str) -> None:
        self.project = project


@attrs.frozen
class AttrsLogger(CustomLogger):
    endpoint: str
    retries: int = 3


class CustomKey(CustomLogger):
    def __init__(self, tenant: str, noise: int) -> None:
        self.tenant = tenant
        self.noise = noise

    def __callback_key__(self) -> object:
        return self.tenant


def test_key_is_class_plus_sorted_public_primitives() -> None:
    key = callback_key(Configured("a", Level.HIGH, b=1.5, a=None))
    assert key == (
        __name__,
        "Configured",
        (("a", None), ("b", 1.5), ("level", Level.HIGH), ("url", "a")),
    )


def test_same_configuration_is_a_duplicate_and_other_values_are_not(registry: CallbackRegistry) -> None:
    assert registry.add("success", Configured("a"))
    assert not registry.add("success", Configured("a", private=99))  # private attributes are ignored
    assert registry.add("success", Configured("b"))
    assert registry.add("success", Configured("a", Level.HIGH))
    assert registry.add("success", OtherClass("a"))  # another class: another key


def test_slotted_and_attrs_classes_have_keys(registry: CallbackRegistry) -> None:
    assert callback_key(SlottedLogger("p"))[2] == (("project", "p"),)
    assert registry.add("success", SlottedLogger("p"))
    assert not registry.add("success", SlottedLogger("p"))
    assert registry.add("success", SlottedLogger("q"))
    assert registry.add("success", AttrsLogger("x"))
    assert not registry.add("success", AttrsLogger("x"))
    assert registry.add("success", AttrsLogger("x", retries=4))


def test_callback_key_override(registry: CallbackRegistry) -> None:
    assert registry.add("success", CustomKey("t1", 1))
    assert not registry.add("success", CustomKey("t1", 2))
    assert registry.add("success", CustomKey("t2", 1))


def test_an_unhashable_override_is_a_type_error(registry: CallbackRegistry) -> None:
    class Bad(CustomLogger):
        def __callback_key__(self) -> object:
            return ["list"]

    with pytest.raises(TypeError, match="unhashable list"):
        registry.add("success", Bad())
    assert len(registry) == 0


def test_remove_takes_an_equal_configuration(registry: CallbackRegistry) -> None:
    registry.add("success", Configured("a"))
    registry.add("failure", Configured("a"))
    assert registry.remove(Configured("a"), "success") == 1
    assert registry.remove(Configured("a")) == 1
    assert len(registry) == 0
