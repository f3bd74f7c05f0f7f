"""Human names for callbacks, for log messages, that never raise.

A name is asked for on error paths (a callback raised, a registration was
refused), so it must not fail itself, whatever the object is: a dead
``weakref.proxy`` raises ``ReferenceError`` on every attribute, a hostile
``__getattr__`` raises anything, a ``Mock`` lies about its ``__class__``.
Only ``type(obj)`` and ``id(obj)`` are trusted; everything else is read
under a guard and replaced by ``?`` when it fails.
"""

from __future__ import annotations

import types


def type_name(obj: object) -> str:
    """``type(obj).__qualname__``, or ``'?'`` if even that fails (a metaclass can override it)."""
    try:
        name = type(obj).__qualname__
    except Exception:
        return "?"
    return name if type(name) is str else "?"


def _text_attribute(obj: object, attribute: str) -> str | None:
    try:
        value = getattr(obj, attribute, None)
    except Exception:
        return None
    return value if type(value) is str else None


def describe_method(func: object, owner: object) -> str:
    """``Owner.method of Owner at 0x...`` for a bound method's parts."""
    owner_name = (
        _text_attribute(owner, "__qualname__") if issubclass(type(owner), type) else type_name(owner)
    )
    return f"{owner_name}.{_text_attribute(func, '__name__') or '?'} of {owner_name} at {id(owner):#x}"


def describe(callback: object) -> str:
    """A short name for a callback: ``integration 'x'``, ``Owner.method of ...``, ``module.function``."""
    kind = type(callback)
    if issubclass(kind, str):
        return f"integration {str.__str__(callback)!r}"
    if kind is types.MethodType:
        return describe_method(callback.__func__, callback.__self__)  # type: ignore[attr-defined]
    qualname = _text_attribute(callback, "__qualname__")
    if qualname is not None:
        return f"{_text_attribute(callback, '__module__') or '?'}.{qualname}"
    return f"{type_name(callback)} at {id(callback):#x}"
