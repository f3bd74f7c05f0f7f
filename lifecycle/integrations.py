"""Integration objects (``CustomLogger``) and the key that deduplicates them.

Two integration objects configured the same way are the same integration:
registering a second one is a duplicate, not a second subscriber. The key is
the class plus the public attributes that describe its configuration.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable
from typing import Any

from lifecycle.hooks import Hook

_PRIMITIVES = (str, int, float, bool, type(None), enum.Enum)

#: The ``CustomLogger`` method that each hook calls.
LOGGER_METHODS: dict[Hook, str] = {
    Hook.INPUT: "log_pre_api_call",
    Hook.SUCCESS: "log_success_event",
    Hook.FAILURE: "log_failure_event",
    Hook.ASYNC_SUCCESS: "async_log_success_event",
    Hook.ASYNC_FAILURE: "async_log_failure_event",
    Hook.SERVICE: "log_service_event",
}


class CustomLogger:
    """Base class of integrations: override the events you care about.

    Every method accepts whatever the dispatcher passes (``*args, **kwargs``)
    and does nothing, so a subclass overrides only what it needs. A logger
    registered on ``CALLBACKS`` receives ``log_success_event`` and
    ``log_failure_event`` (or their async twins), never a call of its own.
    """

    def log_pre_api_call(self, *args: Any, **kwargs: Any) -> None:
        """Before a call."""

    def log_success_event(self, *args: Any, **kwargs: Any) -> None:
        """After a successful call (sync)."""

    def log_failure_event(self, *args: Any, **kwargs: Any) -> None:
        """After a failed call (sync)."""

    async def async_log_success_event(self, *args: Any, **kwargs: Any) -> None:
        """After a successful call (async)."""

    async def async_log_failure_event(self, *args: Any, **kwargs: Any) -> None:
        """After a failed call (async)."""

    def log_service_event(self, *args: Any, **kwargs: Any) -> None:
        """A service-level event (health, cooldown)."""


def slot_names(cls: type) -> list[str]:
    """The ``__slots__`` names of ``cls`` and its bases (one string counts as one name)."""
    names: list[str] = []
    for klass in cls.__mro__:
        slots = klass.__dict__.get("__slots__", ())
        names.extend((slots,) if isinstance(slots, str) else slots)
    return names


def _public_attributes(obj: object) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name in slot_names(type(obj)):
        if not name.startswith("_"):
            try:
                found[name] = object.__getattribute__(obj, name)
            except AttributeError:
                continue  # an unset slot describes nothing
    found.update(getattr(obj, "__dict__", {}))
    return found


def callback_key(logger: object) -> Hashable:
    """The deduplication key of an integration object.

    ``__callback_key__()`` when the class defines it; otherwise the class's
    module and qualified name plus, sorted by name, its public instance
    attributes (from ``__dict__`` and ``__slots__``) whose values are ``str``,
    ``int``, ``float``, ``bool``, ``None`` or an ``Enum``. Other attributes
    (clients, file handles, lists) do not describe the configuration and are
    left out.
    """
    custom = getattr(type(logger), "__callback_key__", None)
    if custom is not None:
        key = custom(logger)
        try:
            hash(key)
        except TypeError:
            raise TypeError(
                f"{type(logger).__qualname__}.__callback_key__() returned an unhashable "
                f"{type(key).__name__}; return a hashable value such as a tuple of strings"
            ) from None
        return ("custom", type(logger).__module__, type(logger).__qualname__, key)
    attributes = tuple(
        sorted(
            (name, value)
            for name, value in _public_attributes(logger).items()
            if not name.startswith("_") and issubclass(type(value), _PRIMITIVES)  # never trust __class__
        )
    )
    return (type(logger).__module__, type(logger).__qualname__, attributes)


class _NaN:
    """Stands for every float NaN in a key, so that two NaN settings are equal (NaN != NaN)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "nan"


_NAN = _NaN()


def _canonical(value: object, logger: object) -> Hashable:
    """``value`` rebuilt from exact built-in types, so comparing keys runs no user code."""
    kind = type(value)
    if kind is str or kind is bool or kind is bytes or value is None:
        return value
    if issubclass(kind, enum.Enum):  # before int/str: IntEnum and StrEnum members are enums first
        return ("enum", kind.__module__, kind.__qualname__, object.__getattribute__(value, "_name_"))
    if issubclass(kind, float):
        number = float.__float__(value)  # type: ignore[arg-type]
        return _NAN if number != number else number
    if issubclass(kind, int):
        return int.__int__(value)  # type: ignore[arg-type]
    if issubclass(kind, str):
        return str.__str__(value)
    if issubclass(kind, tuple):
        items: tuple[object, ...] = value  # type: ignore[assignment]
        return tuple(_canonical(item, logger) for item in tuple.__iter__(items))
    raise TypeError(
        f"the deduplication key of {type(logger).__qualname__} holds a {kind.__qualname__}; "
        f"__callback_key__() must return str, int, float, bool, bytes, None, Enum members or tuples of them"
    )


def registry_key(logger: object) -> Hashable:
    """``callback_key(logger)`` made of exact built-in types only.

    The registry compares keys under its lock; built from ``str``, ``int``,
    ``float``, ``bytes``, ``bool``, ``None`` and tuples, comparing them can
    run no user code (a subclass's ``__eq__``, an enum's ``__hash__``), and
    NaN settings compare equal.
    """
    return _canonical(callback_key(logger), logger)
