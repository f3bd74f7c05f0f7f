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
from collections.abc import Iterator

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
    for name, value in attributes.items():
        yield f"attribute {name!r}", value
    for klass in type(obj).__mro__:
        slots = klass.__dict__.get("__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            try:
                yield f"attribute {name!r}", object.__getattribute__(obj, name)
            except AttributeError:
                continue


def _edges(obj: object) -> Iterator[tuple[str, object]]:
    """The references of ``obj`` that can keep a callback's owner alive."""
    if isinstance(obj, types.FunctionType):
        yield from _function_edges(obj)
    elif isinstance(obj, types.MethodType):
        yield "__self__", obj.__self__
        yield "__func__", obj.__func__
    elif isinstance(obj, functools.partial):
        yield "partial function", obj.func
        for index, value in enumerate(obj.args):
            yield f"partial argument #{index}", value
        for name, value in obj.keywords.items():
            yield f"partial argument {name!r}", value
    elif isinstance(obj, _CONTAINERS):
        for index, value in enumerate(obj):
            yield f"item #{index}", value
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield f"item {key!r}", value
    elif callable(obj) and not isinstance(obj, (type, types.BuiltinFunctionType)):
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
