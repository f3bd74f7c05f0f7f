"""User objects that lie about themselves (issue 8): type checks never trust ``__class__``."""

from __future__ import annotations

import math
from typing import Any
from unittest.mock import Mock

from lifecycle import CallbackRegistry, CustomLogger, Hook
from tests.conftest import Owner


class Liar:
    """An owner whose ``__class__`` raises, so ``isinstance(liar, cls)`` raises too."""

    def on(self, *args: Any) -> None:
        pass

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        raise RuntimeError("__class__ raises")


class Threshold(CustomLogger):
    def __init__(self) -> None:
        self.name = "threshold"
        self.limit = float("nan")


def test_a_mock_with_the_spec_of_a_bound_method_is_a_plain_callable(registry: CallbackRegistry) -> None:
    owner = Owner()
    mock = Mock(spec=owner.on_success)
    assert registry.add(Hook.SUCCESS, mock) is True
    assert registry.callbacks(Hook.SUCCESS) == (mock,)
    assert registry.dispatch(Hook.SUCCESS, 1) == 1
    mock.assert_called_once_with(1)
    assert owner.calls == []


def test_remove_by_type_skips_an_owner_whose_class_raises(registry: CallbackRegistry) -> None:
    liar = Liar()
    owners = [Owner("a"), Owner("b")]
    assert registry.add(Hook.SUCCESS, liar.on)
    assert registry.add(Hook.FAILURE, lambda *args: None, owner=liar)
    for owner in owners:
        assert registry.add(Hook.SUCCESS, owner.on_success)
        assert registry.add(Hook.FAILURE, owner.on_failure)
    assert registry.remove_by_type(Owner) == 4
    assert registry.count(Hook.SUCCESS) == registry.count(Hook.FAILURE) == 1
    assert registry.remove_owner(liar) == 2
    assert len(registry) == 0


def test_loggers_with_the_same_nan_attribute_are_duplicates(registry: CallbackRegistry) -> None:
    first, second = Threshold(), Threshold()
    assert math.isnan(first.limit) and first.limit is not second.limit
    assert registry.add(Hook.SUCCESS, first) is True
    assert registry.add(Hook.SUCCESS, second) is False
    assert registry.count(Hook.SUCCESS) == 1
    assert registry.stats().duplicates == 1
    assert registry.remove(second) == 1
