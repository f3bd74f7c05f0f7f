"""Find out whether a strongly held callback keeps its own owner alive.

A callback registered with ``owner=`` is removed when the owner dies. If the
registry holds the callback strongly and the callback refers to the owner
(a closure cell, a ``functools.partial`` argument, a default argument, an
attribute of a callable object), the owner can never die: the very leak this
library exists to prevent. The search follows only those edges, and only a
few levels deep, so that it stays cheap and never runs user code.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Iterable, Iterator

from lifecycle.integrations import slot_names
from lifecycle.naming import type_name

_MAX_DEPTH = 4
_MAX_VISITS = 256
_CONTAINERS = (tuple, list, set, frozenset)


def _function_edges(func: types.FunctionType) -> Iterator[tuple[str, object]]:
    names = func.__code__.co_freevars
    for name, cell in zip(names, func.__closure__ or (), strict=False):
        try:
            yield f"closure variable {name!r}", cell.cell_contents
        except ValueError:
            continue  # an empty cell refers to nothing
    for index, value in enumerate(func.__defaults__ or ()):
        yield f"default argument #{index}", value
    for name, value in (func.__kwdefaults__ or {}).items():
        yield f"default argument {name!r}", value


def _instance_edges(obj: object) -> Iterator[tuple[str, object]]:
    try:
        attributes = object.__getattribute__(obj, "__dict__")
    except AttributeError:
        attributes = {}
    if type(attributes) is dict:
        for name, value in dict.items(attributes):
            yield f"attribute {_label(name)}", value
    for name in slot_names(type(obj)):
        try:
            yield f"attribute {_label(name)}", object.__getattribute__(obj, name)
        except AttributeError:
            continue


def _label(key: object) -> str:
    """A key as a label, without running its ``__repr__`` (a user's key may raise or lie)."""
    if type(key) in (str, int, float, bool, bytes) or key is None:
        return repr(key)
    return f"<{type_name(key)} key>"


def _edges(obj: object) -> Iterator[tuple[str, object]]:
    """The references of ``obj`` that can keep a callback's owner alive.

    Kinds are told by ``type(obj)``, never by ``isinstance`` (which trusts a
    ``__class__`` that can lie, as a ``Mock`` does), and containers are walked
    only when they are exactly the built-in type (a subclass may override
    iteration).
    """
    kind = type(obj)
    if kind is types.FunctionType:
        yield from _function_edges(obj)  # type: ignore[arg-type]
    elif kind is types.MethodType:
        yield "__self__", obj.__self__  # type: ignore[attr-defined]
        yield "__func__", obj.__func__  # type: ignore[attr-defined]
    elif issubclass(kind, functools.partial):
        partial: functools.partial[object] = obj  # type: ignore[assignment]
        yield "partial function", partial.func
        for index, value in enumerate(partial.args):
            yield f"partial argument #{index}", value
        for name, value in partial.keywords.items():
            yield f"partial argument {_label(name)}", value
    elif kind in _CONTAINERS:
        items: Iterable[object] = obj  # type: ignore[assignment]
        for index, value in enumerate(items):
            yield f"item #{index}", value
    elif kind is dict:
        mapping: dict[object, object] = obj  # type: ignore[assignment]
        for key, value in mapping.items():
            yield f"item {_label(key)}", value
    elif callable(obj) and not issubclass(kind, (type, types.BuiltinFunctionType)):
        yield from _instance_edges(obj)


def reference_path(callback: object, owner: object) -> str | None:
    """How ``callback`` refers to ``owner`` (``"closure variable 'self'"``), or ``None``."""
    seen = {id(callback)}
    frontier: list[tuple[object, str]] = [(callback, "")]
    visits = 0
    for _ in range(_MAX_DEPTH):
        next_frontier: list[tuple[object, str]] = []
        for obj, path in frontier:
            for label, value in _edges(obj):
                step = f"{path} -> {label}" if path else label
                if value is owner:
                    return step
                visits += 1
                if id(value) not in seen and visits < _MAX_VISITS:
                    seen.add(id(value))
                    next_frontier.append((value, step))
        frontier = next_frontier
    return None
