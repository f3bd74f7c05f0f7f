"""What the registry stores: validated callbacks, entries, and owner anchors.

A registration is checked completely (``classify``) before the registry
changes, so that an error leaves nothing half-registered. Every object the
registry must not keep alive (an owner, a weakly held callable) gets one
*anchor* per registry: a weak reference whose callback tells the registry that
all the entries hanging from it are gone. One anchor serves every entry of
that object in every hook, so an owner with six callbacks costs one weak
reference and one finalizer, not six.
"""

from __future__ import annotations

import itertools
import types
from collections.abc import Callable, Hashable
from typing import Any, Final

from lifecycle.hooks import Hook
from lifecycle.integrations import CustomLogger, callback_key

NAME: Final = "name"
LOGGER: Final = "logger"
METHOD: Final = "method"
CALLABLE: Final = "callable"

Callback = str | CustomLogger | Callable[..., Any]
Getter = Callable[[], Any]


def constant(value: object) -> Getter:
    """A zero-argument C-level callable that always returns ``value``."""
    return itertools.repeat(value).__next__


def weakly_referable(obj: object) -> bool:
    return type(obj).__weakrefoffset__ != 0


#: What else fixes a registration that would need a weak reference to ``obj`` (``not_weakly_referable``).
STRONG_INSTEAD: Final = "pass weak=False and remove it yourself with remove_owner()/remove()"
OTHER_OWNER: Final = "use an instance of a class of your own as the owner, or leave owner= out"
LEAVE_WEAK_OUT: Final = "leave weak= out to have it held strongly"


def not_weakly_referable(obj: object, role: str, instead: str) -> TypeError:
    """The error for ``obj`` that cannot be weakly referenced, with fixes that work.

    Adding ``'__weakref__'`` to ``__slots__`` is offered only for a class that
    defines ``__slots__`` itself and is not variable-sized (``int``, ``str``,
    ``tuple`` and their subclasses cannot take it); ``instead`` is the other fix.
    """
    cls = type(obj)
    name = cls.__qualname__
    fix = instead
    if "__slots__" in vars(cls) and cls.__itemsize__ == 0:
        fix = f"add '__weakref__' to {name}.__slots__, or {instead}"
    return TypeError(
        f"{role} of type {name} cannot be weakly referenced, so the registry could not notice its death: {fix}"
    )


def describe(callback: object) -> str:
    """A short human name for a callback, for log messages."""
    if isinstance(callback, str):
        return f"integration {callback!r}"
    if isinstance(callback, types.MethodType):
        owner = callback.__self__
        owner_name = owner.__qualname__ if isinstance(owner, type) else type(owner).__qualname__
        return f"{owner_name}.{getattr(callback.__func__, '__name__', '?')} of {owner_name} at {id(owner):#x}"
    qualname = getattr(callback, "__qualname__", None)
    if isinstance(qualname, str):
        return f"{getattr(callback, '__module__', None) or '?'}.{qualname}"
    return f"{type(callback).__qualname__} at {id(callback):#x}"


#: A registration that passed every check: ``(kind, key, callback, owner, weak, identity)``.
#: ``key`` decides duplicates; ``identity`` is the object whose ``id()`` the key
#: contains (the owner of a bound method, an identity-keyed callable). A plain
#: tuple, because ``add`` builds one per call and a class instance costs twice as much.
Spec = tuple[str, Hashable, Callback, object, bool, object]


def dedup_key(callback: object) -> tuple[str, Hashable, object]:
    """``(kind, key, identity)`` of a callback; ``TypeError`` for anything else."""
    if isinstance(callback, str):
        if not callback:
            raise ValueError("an integration name must be a non-empty string, got ''")
        return NAME, (NAME, callback), None
    if isinstance(callback, CustomLogger):
        return LOGGER, (LOGGER, callback_key(callback)), None
    if isinstance(callback, types.MethodType):
        owner = callback.__self__
        return METHOD, (METHOD, id(owner), id(callback.__func__)), owner
    if callable(callback):
        return CALLABLE, (CALLABLE, id(callback)), callback
    raise TypeError(
        f"cannot register a {type(callback).__name__}: expected an integration name (str), "
        f"a lifecycle.CustomLogger, a bound method or another callable"
    )


def classify(callback: object, owner: object = None, weak: bool | None = None) -> Spec:
    """Validate a registration completely, without touching any registry."""
    if owner is None and weak is None and type(callback) is types.MethodType:  # the common case, fast
        method_owner = callback.__self__
        if type(method_owner).__weakrefoffset__:
            return METHOD, (METHOD, id(method_owner), id(callback.__func__)), callback, method_owner, True, method_owner
    if weak not in (None, True, False):
        raise TypeError(f"weak must be None, True or False, got {weak!r}")
    kind, key, identity = dedup_key(callback)
    if kind == METHOD:
        method_owner = identity
        if owner is not None and owner is not method_owner:
            raise ValueError(
                f"owner= must be the bound method's own __self__ ({describe(callback)}); "
                f"got a different {type(owner).__qualname__}. Leave owner= out for bound methods"
            )
        owner = method_owner
        held_weakly = weak is not False
        if held_weakly and not weakly_referable(owner):
            raise not_weakly_referable(owner, "the owner of bound method " + describe(callback), STRONG_INSTEAD)
    else:
        if kind == NAME and weak:
            raise ValueError(
                f"weak=True does not apply to integration names ({callback!r}): a name "
                f"holds nothing; leave weak= out"
            )
        held_weakly = bool(weak)
        if held_weakly and not weakly_referable(callback):
            raise not_weakly_referable(callback, "callback " + describe(callback), LEAVE_WEAK_OUT)
        if owner is not None and not weakly_referable(owner):
            raise not_weakly_referable(owner, "owner", OTHER_OWNER)
    return kind, key, callback, owner, held_weakly, identity  # type: ignore[return-value]


class Anchor:
    """An object the registry must not keep alive, and the entries that hang from it.

    ``ref`` returns the object, or ``None`` once it is dead: a plain
    ``weakref.ref`` whose callback (a ``functools.partial`` naming this
    anchor's table and key, so one function serves every anchor, as
    ``KeyedRef`` does for ``WeakValueDictionary``) tells the registry. Dispatch
    calls the same ``ref``. For an owner that cannot be weakly referenced and
    is held strongly by its own callback (``weak=False``), ``ref`` is a plain
    getter: it changes nothing about the owner's life, which that callback
    already decides.
    """

    __slots__ = ("entries", "key", "ref", "table")

    def __init__(self, ref: Getter, table: str, key: int) -> None:
        self.ref = ref
        self.table = table  # the name of the registry table it lives in (a name: no reference cycle)
        self.key = key
        self.entries: dict[int, Entry] = {}


class Entry:
    """One callback registered on one hook."""

    __slots__ = ("func", "hook", "key", "kind", "owner_anchor", "serial", "strong", "target_anchor")

    def __init__(
        self,
        serial: int,
        hook: Hook,
        spec: Spec,
        owner_anchor: Anchor | None,
        target_anchor: Anchor | None,
    ) -> None:
        self.serial = serial
        self.hook = hook
        kind, self.key, callback, _, weak, _ = spec
        self.kind = kind
        self.owner_anchor = owner_anchor
        self.target_anchor = target_anchor
        if weak and kind == METHOD:  # the function strongly, the owner through its anchor
            self.strong: object = None
            self.func: Any = callback.__func__  # type: ignore[union-attr]
        else:
            self.strong = None if weak else callback
            self.func = None

    def owner(self) -> object:
        """The live owner, or ``None`` (no owner, or a dead one)."""
        anchor = self.owner_anchor
        return None if anchor is None else anchor.ref()

    def target(self) -> object:
        """The stored object itself (a function for weak methods), or ``None`` if it died."""
        if self.strong is not None:
            return self.strong
        if self.func is not None:
            return self.func
        assert self.target_anchor is not None
        return self.target_anchor.ref()

    def callback(self) -> object:
        """The live callback as registered (a bound method comes back bound), or ``None``."""
        owner = self.owner()  # read once: another thread may drop the owner at any moment
        if self.owner_anchor is not None and owner is None:
            return None
        if self.func is not None:
            return types.MethodType(self.func, owner)
        return self.target()

    def identity(self) -> object:
        """The object whose id is in the key: the owner of a method, or the callable."""
        if self.kind == METHOD:
            return self.owner()
        if self.kind == CALLABLE:
            return self.target()
        return None
