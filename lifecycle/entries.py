"""What the registry stores: one class per kind of callback, and owner anchors.

A registration is checked completely (``classify``) before the registry
changes, so that an error leaves nothing half-registered. Every object whose
death must remove entries (an owner, a weakly held callable, the function of
a weakly held bound method) gets one *anchor* per registry: a weak reference
whose callback tells the registry that the entries hanging from it are gone.
One anchor serves every entry of that object in every hook, so an owner with
six callbacks costs one weak reference and one finalizer, not six::

    registry._owners[id(router)] ──> Anchor(ref=weakref(router)) ──entries──┐
    registry._functions[id(f)]   ──> Anchor(ref=weakref(f))      ──entries──┤
                                                                             v
    registry._entries[Hook.SUCCESS][serial] ──────────────────────> MethodEntry
                                                  .method = StoredMethod(router.on)  (a WeakMethod)

Each kind of callback is a class (``NameEntry``, ``LoggerEntry``,
``WeakLoggerEntry``, ``MethodEntry``, ``CallableEntry``,
``WeakCallableEntry``) that knows its anchors, the dispatch plan item that
fires it, how it names itself and what ``callbacks()`` returns for it, as
psygnal's ``WeakCallback`` family does: a new kind touches one class.
"""

from __future__ import annotations

import functools
import itertools
import logging
import operator
import sys
import types
import weakref
from collections.abc import Callable, Hashable
from typing import Any, ClassVar, Final

from lifecycle.hooks import Hook
from lifecycle.integrations import LOGGER_METHODS, CustomLogger, registry_key
from lifecycle.naming import describe, describe_method, type_name

log = logging.getLogger("lifecycle")

Callback = str | CustomLogger | Callable[..., Any]
Getter = Callable[[], Any]
#: What a dispatch plan runs for one callback: ``fn(ref(), *args)`` while ``ref()`` is not None.
Item = tuple[Callable[..., Any], Getter]
Resolver = Callable[[str], CustomLogger | None]

#: The anchor tables of a registry, by the name anchors carry.
OWNERS: Final = "owners"
TARGETS: Final = "targets"
FUNCTIONS: Final = "functions"


def constant(value: object) -> Getter:
    """A zero-argument C-level callable that always returns ``value``."""
    return itertools.repeat(value).__next__


def call_target(target: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn`` of an item whose ``ref`` returns the callable itself: call it (the Python fallback)."""
    return target(*args, **kwargs)


#: ``CALL(target, *args)`` calls ``target(*args)``: ``operator.call`` on 3.11+, a C function,
#: so no Python frame sits between a dispatch loop and the callback; ``call_target`` on 3.10.
CALL: Final[Callable[..., Any]] = getattr(operator, "call", call_target)


def _caller_of(callback: Callable[..., Any]) -> Callable[..., Any]:
    """The fastest ``fn`` with ``fn(callback, *args) == callback(*args)``.

    ``operator.call`` on 3.11+. On 3.10, the type's C ``__call__`` slot
    wrapper (a function's, a partial's, a builtin's), called with the callable
    first, measured 1.4x faster than the Python ``call_target``; it is used
    only when it is exactly the type's C slot.
    """
    if CALL is not call_target:
        return CALL
    kind = type(callback)
    if kind not in (types.FunctionType, types.BuiltinFunctionType, functools.partial):
        return call_target
    slot = kind.__dict__.get("__call__")
    return slot if type(slot) is types.WrapperDescriptorType else call_target


def is_caller(fn: object) -> bool:
    """Whether an item's ``fn`` calls its target (so the target, not ``fn``, names the callback)."""
    return fn is CALL or fn is call_target or type(fn) is types.WrapperDescriptorType


def strong_item(callback: Callable[..., Any]) -> Item:
    """The plan item of a strongly held callable: no Python frame between the loop and the call.

    A bound method becomes ``(function, constant(self))``, like a weak one
    whose owner cannot die; anything else ``(caller, constant(callback))``.
    """
    if type(callback) is types.MethodType:
        return callback.__func__, constant(callback.__self__)
    return _caller_of(callback), constant(callback)


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
    name = type_name(obj)
    fix = instead
    if "__slots__" in vars(cls) and cls.__itemsize__ == 0:
        fix = f"add '__weakref__' to {name}.__slots__, or {instead}"
    return TypeError(
        f"{role} of type {name} cannot be weakly referenced, so the registry could not notice its death: {fix}"
    )


class Anchor:
    """An object the registry must not keep alive, and the entries that hang from it.

    ``ref`` returns the object, or ``None`` once it is dead: a plain
    ``weakref.ref`` whose callback is the registry's death queue's C-level
    ``append``, so a death queues the reference itself and runs no Python
    line; the registry finds the anchor again by ``id(ref)``. Dispatch calls
    the same ``ref`` (a plain one: a subclass would be slower to call). For
    an owner that cannot be weakly referenced and is held strongly by its own
    callback (``weak=False``), ``ref`` is a plain getter: it changes nothing
    about the owner's life, which that callback already decides.
    """

    __slots__ = ("entries", "key", "ref", "table")

    def __init__(self, ref: Getter, table: str, key: int) -> None:
        self.ref = ref
        self.table = table  # the name of the registry table it lives in (a name: no reference cycle)
        self.key = key
        self.entries: dict[int, Entry] = {}


_new_ref = weakref.ref.__new__


class StoredMethod(weakref.WeakMethod):  # type: ignore[type-arg]
    """A ``weakref.WeakMethod`` whose function reference is the registry's function anchor.

    ``WeakMethod.__new__`` makes two weak references and a closure per
    method; the registry already holds one weak reference per function (its
    anchor, shared by every entry of that function) and watches deaths
    through anchors, so this subclass reuses that reference and makes one.
    It is a ``WeakMethod`` in every other way: calling it returns a new bound
    method, or ``None`` once the owner or the function died.
    """

    __slots__ = ()
    _func_ref: Getter  # WeakMethod's slot, which typeshed does not declare
    # WeakMethod's other two slots, the same for every instance here: class attributes
    # (they shadow the slots) save two stores per registration.
    _meth_type = types.MethodType
    _alive = True  # WeakMethod's own callback clears it; this class never installs one

    def __new__(cls, method: types.MethodType, func_ref: Getter) -> StoredMethod:
        self = weakref.ref.__new__(cls, method.__self__)
        self._func_ref = func_ref
        return self


class Entry:
    """One callback registered on one hook; subclasses are the kinds of callback.

    Every kind is built the same way, ``cls(serial, hook, key, owner_anchor,
    callback, held_anchor)``: ``held_anchor`` is the anchor, in table
    ``held_in``, of the object ``classify`` named in the spec's ``held`` slot
    (``None`` for kinds that anchor nothing of their own).
    """

    __slots__ = ("anchors", "hook", "key", "owner_anchor", "serial")

    #: The anchor table of the spec's ``held`` object; ``None``: nothing to anchor.
    held_in: ClassVar[str | None] = None

    def __init__(
        self,
        serial: int,
        hook: Hook,
        key: Hashable,
        owner_anchor: Anchor | None,
        callback: Any,
        held_anchor: Anchor | None,
    ) -> None:
        self.serial = serial
        self.hook = hook
        self.key = key
        self.owner_anchor = owner_anchor
        if owner_anchor is None:
            self.anchors: tuple[Anchor, ...] = () if held_anchor is None else (held_anchor,)
        else:
            self.anchors = (owner_anchor,) if held_anchor is None else (owner_anchor, held_anchor)
        self.hold(callback, held_anchor)

    def hold(self, callback: Any, held_anchor: Anchor | None) -> None:
        """Keep what this kind keeps of the callback."""
        raise NotImplementedError

    def owner(self) -> object:
        """The live owner, or ``None`` (no owner, or a dead one)."""
        anchor = self.owner_anchor
        return None if anchor is None else anchor.ref()

    def target(self) -> object:
        """The stored callable or object itself, or ``None`` once it died."""
        raise NotImplementedError

    def callback(self) -> object:
        """The live callback as registered (a bound method comes back bound), or ``None``."""
        if self.owner_anchor is not None and self.owner_anchor.ref() is None:
            return None
        return self.target()

    def identity(self) -> object:
        """The object whose ``id()`` the key holds (``None`` for keys without one)."""
        return None

    def item(self, hook: Hook, resolve: Resolver) -> Item | None:
        """What a dispatch of ``hook`` runs for this entry (``None``: nothing). May run user code."""
        raise NotImplementedError

    def gated(self, item: Item) -> Item:
        """``item``, firing only while the owner lives (for kinds whose item does not check it)."""
        if self.owner_anchor is None:
            return item
        fn, ref = item
        return fn, _Gated(ref, self.owner_anchor.ref)

    def name(self) -> str:
        """How log messages name this callback; never raises."""
        return describe(self.target())


class IntegrationEntry(Entry):
    """What the three integration kinds share: each hook calls one event method of a ``CustomLogger``."""

    __slots__ = ()

    def item(self, hook: Hook, resolve: Resolver) -> Item | None:
        method = LOGGER_METHODS.get(hook)
        if method is None:
            return None  # an integration has no event for a direct CALLBACKS dispatch
        return self.gated(self.event_item(method, resolve))

    def event_item(self, method: str, resolve: Resolver) -> Item:
        """The plan item that calls the integration's ``method``."""
        raise NotImplementedError


class NameEntry(IntegrationEntry):
    """An integration name, resolved through the registry's catalog at dispatch time."""

    __slots__ = ("integration",)

    def hold(self, callback: Any, held_anchor: Anchor | None) -> None:
        self.integration: str = callback

    def target(self) -> object:
        return self.integration

    def event_item(self, method: str, resolve: Resolver) -> Item:
        return strong_item(NamedIntegration(resolve, self.integration, method))


class LoggerEntry(IntegrationEntry):
    """A ``CustomLogger`` held strongly."""

    __slots__ = ("logger",)

    def hold(self, callback: Any, held_anchor: Anchor | None) -> None:
        self.logger: CustomLogger = callback

    def target(self) -> object:
        return self.logger

    def event_item(self, method: str, resolve: Resolver) -> Item:
        return strong_item(getattr(self.logger, method))


class WeakLoggerEntry(IntegrationEntry):
    """A ``CustomLogger`` held weakly (``weak=True``): it leaves when it dies."""

    __slots__ = ("target_anchor",)
    held_in = TARGETS

    def hold(self, callback: Any, held_anchor: Anchor | None) -> None:
        assert held_anchor is not None
        self.target_anchor: Anchor = held_anchor

    def target(self) -> object:
        return self.target_anchor.ref()

    def event_item(self, method: str, resolve: Resolver) -> Item:
        return CALL, _BoundLater(self.target_anchor.ref, method)


class MethodEntry(Entry):
    """A bound method held weakly, as a ``weakref.WeakMethod``: it leaves when its owner or function dies.

    Its owner anchor is the method's ``__self__``; a second anchor watches
    the function. The dispatch plan item is ``(function, owner's weakref)``,
    so no bound method is built per call; a plan holds the function while
    it is current, so a function that dies is noticed at the hook's next change.
    """

    __slots__ = ("method",)
    held_in = FUNCTIONS

    def __init__(  # one frame, not three: this is the kind every router registers
        self,
        serial: int,
        hook: Hook,
        key: Hashable,
        owner_anchor: Anchor | None,
        callback: Any,
        held_anchor: Anchor | None,
    ) -> None:
        assert owner_anchor is not None and held_anchor is not None
        self.serial = serial
        self.hook = hook
        self.key = key
        self.owner_anchor = owner_anchor
        self.anchors = (owner_anchor, held_anchor)
        method = _new_ref(StoredMethod, callback.__self__)  # StoredMethod(...) without its Python frame
        method._func_ref = held_anchor.ref
        self.method = method

    def hold(self, callback: Any, held_anchor: Anchor | None) -> None:
        raise AssertionError("MethodEntry.__init__ sets everything")

    def target(self) -> object:
        return self.method()

    def callback(self) -> object:
        return self.method()

    def identity(self) -> object:
        return self.owner()

    def item(self, hook: Hook, resolve: Resolver) -> Item | None:
        func = self.method._func_ref()
        assert self.owner_anchor is not None
        return None if func is None else (func, self.owner_anchor.ref)

    def name(self) -> str:
        owner, func = self.owner(), self.method._func_ref()
        return describe_method(func, owner) if owner is not None else "a method of a dead owner"


class CallableEntry(Entry):
    """Any other callable held strongly (plain functions, partials, ``weak=False`` bound methods)."""

    __slots__ = ("function",)

    def hold(self, callback: Any, held_anchor: Anchor | None) -> None:
        self.function: Callable[..., Any] = callback

    def target(self) -> object:
        return self.function

    def identity(self) -> object:
        return self.owner() if type(self.function) is types.MethodType else self.function

    def item(self, hook: Hook, resolve: Resolver) -> Item | None:
        if type(self.function) is types.MethodType and self.owner_anchor is not None:
            return strong_item(self.function)  # its owner is its own __self__, alive while it is
        return self.gated(strong_item(self.function))


class WeakCallableEntry(Entry):
    """A callable held weakly (``weak=True``): it leaves when it dies."""

    __slots__ = ("target_anchor",)
    held_in = TARGETS

    def hold(self, callback: Any, held_anchor: Anchor | None) -> None:
        assert held_anchor is not None
        self.target_anchor: Anchor = held_anchor

    def target(self) -> object:
        return self.target_anchor.ref()

    def identity(self) -> object:
        return self.target_anchor.ref()

    def item(self, hook: Hook, resolve: Resolver) -> Item | None:
        return self.gated((CALL, self.target_anchor.ref))


class _Gated:
    """Returns what ``ref`` returns only while the owner is alive."""

    __slots__ = ("owner_ref", "ref")

    def __init__(self, ref: Getter, owner_ref: Getter) -> None:
        self.ref = ref
        self.owner_ref = owner_ref

    def __call__(self) -> Any:
        return None if self.owner_ref() is None else self.ref()


class _BoundLater:
    """Returns ``getattr(obj, name)`` while the weakly held ``obj`` is alive."""

    __slots__ = ("attribute", "obj_ref")

    def __init__(self, obj_ref: Getter, attribute: str) -> None:
        self.obj_ref = obj_ref
        self.attribute = attribute

    def __call__(self) -> Any:
        obj = self.obj_ref()
        return None if obj is None else getattr(obj, self.attribute)


class Unresolved(Exception):
    """Raised by a name entry whose integration is unknown: skipped, not counted."""


class NamedIntegration:
    """Calls one event method of the integration a name resolves to.

    A registry resolves a name once and keeps the instance for its life
    (``ResolvedIntegrations``), so the bound event method is kept after the
    first resolution: later dispatches skip the lookup.
    """

    __slots__ = ("bound", "method", "name", "resolve")

    def __init__(self, resolve: Resolver, name: str, method: str) -> None:
        self.resolve = resolve
        self.name = name
        self.method = method
        self.bound: Callable[..., Any] | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        bound = self.bound
        if bound is None:
            logger = self.resolve(self.name)
            if logger is None:
                raise Unresolved(self.name)
            bound = self.bound = getattr(logger, self.method)
        return bound(*args, **kwargs)


# -- classification ----------------------------------------------------------------------

#: A registration that passed every check: ``(entry class, key, callback, owner, held)``.
#: ``key`` decides duplicates and holds only exact built-in types (comparing
#: keys runs no user code); ``owner`` is the object whose death removes the entry;
#: ``held`` is the object the entry class anchors in its ``held_in`` table (the
#: function of a weak method, a weakly held callable), or ``None``.
#: A plain tuple, because ``add`` builds one per call.
Spec = tuple[type[Entry], Hashable, Any, object, object]

METHOD: Final = "method"
CALLABLE: Final = "callable"
LOGGER: Final = "logger"
NAME: Final = "name"


_refcount: Callable[[object], int] = getattr(sys, "getrefcount", lambda obj: 1 << 30)


def _function_refcount(method: types.MethodType) -> int:
    """References to a method's function, counted as ``classify`` counts them."""
    func = method.__func__
    return _refcount(func)


#: The count of a function that nothing refers to but one bound method (measured, not assumed).
_LONELY: Final = _function_refcount(types.MethodType(lambda self: None, Anchor))


def warn_function_dies_at_once(method: types.MethodType) -> None:
    """One WARNING: a weakly held method whose function would die with the bound method itself."""
    log.warning(
        "%s: its function is referenced by nothing but this bound method, so the "
        "registry's weak reference to it dies at once and the callback is removed; keep a "
        "reference to the function (define it on the class) or register it with weak=False",
        describe(method),
    )


def dedup_key(callback: object) -> tuple[str, Hashable]:
    """``(kind, key)`` of a callback; ``TypeError`` for anything that is not one."""
    kind = type(callback)
    if issubclass(kind, str):
        name = str.__str__(callback)  # an exact str: its hash is no user code
        if not name:
            raise ValueError("an integration name must be a non-empty string, got ''")
        return NAME, (NAME, name)
    if issubclass(kind, CustomLogger):
        return LOGGER, (LOGGER, registry_key(callback))
    if kind is types.MethodType:
        return METHOD, (METHOD, id(callback.__self__), id(callback.__func__))  # type: ignore[attr-defined]
    if callable(callback):
        return CALLABLE, (CALLABLE, id(callback))
    raise TypeError(
        f"cannot register a {type_name(callback)}: expected an integration name (str), "
        f"a lifecycle.CustomLogger, a bound method or another callable"
    )


def classify(callback: object, owner: object = None, weak: bool | None = None) -> Spec:
    """Validate a registration completely, without touching any registry."""
    if owner is None and weak is None and type(callback) is types.MethodType:  # the common case, fast
        method_owner = callback.__self__
        func = callback.__func__
        if type(func) is types.FunctionType and type(method_owner).__weakrefoffset__:
            if _refcount(func) <= _LONELY:
                warn_function_dies_at_once(callback)
            return MethodEntry, (METHOD, id(method_owner), id(func)), callback, method_owner, func
    if weak is not None and type(weak) is not bool:
        raise TypeError(f"weak must be None, True or False, got {type_name(weak)}")
    kind, key = dedup_key(callback)
    if kind == METHOD:
        method_owner = callback.__self__  # type: ignore[attr-defined]
        if owner is not None and owner is not method_owner:
            raise ValueError(
                f"owner= must be the bound method's own __self__ ({describe(callback)}); "
                f"got a different {type_name(owner)}. Leave owner= out for bound methods"
            )
        if weak is False:
            return CallableEntry, key, callback, method_owner, None
        if not weakly_referable(method_owner):
            raise not_weakly_referable(method_owner, "the owner of bound method " + describe(callback), STRONG_INSTEAD)
        if not weakly_referable(callback.__func__):  # type: ignore[attr-defined]
            raise TypeError(
                f"the function of bound method {describe(callback)} cannot be weakly referenced; "
                f"register it with weak=False and remove it with remove_owner()"
            )
        if _function_refcount(callback) <= _LONELY:  # type: ignore[arg-type]
            warn_function_dies_at_once(callback)  # type: ignore[arg-type]
        return MethodEntry, key, callback, method_owner, callback.__func__  # type: ignore[attr-defined]
    if kind == NAME:
        if weak:
            raise ValueError(
                f"weak=True does not apply to integration names ({callback!r}): a name "
                f"holds nothing; leave weak= out"
            )
        entry_class: type[Entry] = NameEntry
        callback = str.__str__(callback)
    elif weak:
        if not weakly_referable(callback):
            raise not_weakly_referable(callback, "callback " + describe(callback), LEAVE_WEAK_OUT)
        entry_class = WeakLoggerEntry if kind == LOGGER else WeakCallableEntry
    else:
        entry_class = LoggerEntry if kind == LOGGER else CallableEntry
    if owner is not None and not weakly_referable(owner):
        raise not_weakly_referable(owner, "owner", OTHER_OWNER)
    return entry_class, key, callback, owner, callback if entry_class.held_in is not None else None


def transient_item(spec: Spec, hook: Hook, resolve: Resolver) -> Item | None:
    """The plan item of a per-call (``extra=``) callback: held strongly, for one dispatch."""
    entry_class, key, callback, _, _ = spec
    if entry_class is MethodEntry or entry_class is WeakCallableEntry:
        entry_class = CallableEntry
    elif entry_class is WeakLoggerEntry:
        entry_class = LoggerEntry
    return entry_class(-1, hook, key, None, callback, None).item(hook, resolve)
