"""The registry's tables after mass death, its generated loops, and what it never trusts."""

from __future__ import annotations

import enum
import gc
import logging
import sys
import traceback
import types

import pytest

from lifecycle import CallbackRegistry, CustomLogger, Hook
from lifecycle.plans import FIXED_ARITY, LOOPS_FILENAME
from lifecycle.selfref import reference_path


class Owner:
    def on(self, *args: object) -> None:
        pass


def table_sizes(registry: CallbackRegistry) -> int:
    """Bytes of every dict the registry walks when it changes or builds a plan."""
    dicts = [*registry._entries.values(), *registry._index.values(), *registry._tables.values()]
    dicts += [anchor.entries for table in registry._tables.values() for anchor in table.values()]
    return sum(map(sys.getsizeof, dicts))


def test_tables_shrink_after_mass_death() -> None:
    registry = CallbackRegistry(max_callbacks=100_000)
    survivors = [Owner() for _ in range(10)]
    for owner in survivors:
        registry.add(Hook.SUCCESS, owner.on)
    fresh = CallbackRegistry(max_callbacks=100_000)
    for owner in survivors:
        fresh.add(Hook.SUCCESS, owner.on)

    doomed = [Owner() for _ in range(50_000)]
    for owner in doomed:
        registry.add(Hook.SUCCESS, owner.on)
        registry.add(Hook.FAILURE, owner.on)
    grown = table_sizes(registry)
    del doomed, owner
    gc.collect()
    assert len(registry) == 10  # applies the deaths, and compacts what they emptied
    registry._check_invariants()
    assert table_sizes(registry) < grown / 50
    assert table_sizes(registry) <= 2 * table_sizes(fresh)
    assert registry.dispatch(Hook.SUCCESS) == 10


def test_a_callback_error_names_the_generated_loop_with_its_lines(caplog: pytest.LogCaptureFixture) -> None:
    registry = CallbackRegistry()

    def broken(*args: object) -> None:
        raise RuntimeError("boom")

    registry.add(Hook.SUCCESS, broken)
    plan = registry._sync_plan(Hook.SUCCESS)
    with caplog.at_level(logging.ERROR, logger="lifecycle"):
        assert FIXED_ARITY[1](plan, (1,)) == 1  # the pure loop, whichever path dispatch() takes
    (record,) = caplog.records
    assert record.exc_info is not None
    text = "".join(traceback.format_exception(*record.exc_info))
    assert f'File "{LOOPS_FILENAME}"' in text and "result = fn(target, a0)" in text
    assert 'File "<string>"' not in text


def test_the_self_reference_scan_never_runs_a_keys_repr_or_trusts_class() -> None:
    class Hostile:
        def __repr__(self) -> str:
            raise AssertionError("repr called")

        def __hash__(self) -> int:
            return 1

        @property  # type: ignore[misc]
        def __class__(self) -> type:
            raise AssertionError("__class__ read")

    owner = Owner()
    callback = types.FunctionType(
        (lambda: None).__code__, {}, "callback", (dict.fromkeys([Hostile()], owner),)
    )
    assert reference_path(callback, owner) == f"default argument #0 -> item <{Hostile.__qualname__} key>"


def test_hostile_registration_leaves_the_registry_usable(caplog: pytest.LogCaptureFixture) -> None:
    class Liar:
        """A callable whose __class__ claims to be a str and whose naming attributes raise."""

        @property  # type: ignore[misc]
        def __class__(self) -> type:
            return str

        def __getattr__(self, name: str) -> object:
            raise RuntimeError(f"no {name}")

        def __call__(self, *args: object) -> None:
            raise ValueError("called")

    registry = CallbackRegistry()
    liar = Liar()
    calls: list[int] = []
    registry.add(Hook.SUCCESS, liar)
    registry.add(Hook.SUCCESS, calls.append)
    with caplog.at_level(logging.ERROR, logger="lifecycle"):
        assert registry.dispatch(Hook.SUCCESS, 7) == 2
    assert calls == [7]
    assert "Liar at 0x" in caplog.text
    assert registry.remove(liar) == 1
    registry._check_invariants()


class Colour(enum.Enum):
    RED = 1


class Configured(CustomLogger):
    def __init__(self, colour: Colour, ratio: float) -> None:
        self.colour = colour
        self.ratio = ratio


class KeyedBy(CustomLogger):
    def __init__(self, key: object) -> None:
        self.key = key

    def __callback_key__(self) -> object:
        return self.key


def test_integration_keys_compare_without_user_code() -> None:
    registry = CallbackRegistry()
    assert registry.add(Hook.SUCCESS, Configured(Colour.RED, float("nan")))
    assert not registry.add(Hook.SUCCESS, Configured(Colour.RED, float("nan")))  # NaN settings are equal
    assert registry.add(Hook.SUCCESS, KeyedBy(("tenant", 1, None)))
    assert not registry.add(Hook.SUCCESS, KeyedBy(("tenant", 1, None)))
    with pytest.raises(TypeError, match=r"__callback_key__\(\) must return str, int"):
        registry.add(Hook.SUCCESS, KeyedBy(frozenset({"a"})))
    assert len(registry) == 2


def test_the_pure_dispatchers_carry_a_real_file_name_with_their_source() -> None:
    import linecache

    from lifecycle import dispatchers

    code = dispatchers.pure_dispatch.__code__
    assert code.co_filename == dispatchers.DISPATCHERS_FILENAME
    assert "def dispatch(self, hook" in linecache.getline(code.co_filename, code.co_firstlineno)
