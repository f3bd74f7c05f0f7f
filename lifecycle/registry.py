"""The callback registry: lifecycle hooks that never keep their subscribers alive.

How it stays correct when garbage collection can strike anywhere:

- Every change happens under one non-reentrant lock.
- An owner's death is reported by its anchor's weak-reference callback, which
  may run in any thread, at any allocation, even inside one of this class's
  own methods. The callback only appends to ``_pending`` and then *tries* to
  take the lock; if the lock is busy (another thread, or this very thread in
  the middle of a change) the removal waits in ``_pending`` and the lock's
  holder applies it before it lets go, as ``WeakSet`` does while iterating.
  Every method applies pending removals before it reads, so after
  ``gc.collect()`` no query ever sees a dead owner's entries.
- Live entries and their anchors refer to each other (an anchor lists its
  entries, an entry names its anchors); removal breaks that. A registry
  dropped while it still holds entries is freed by the cycle collector.
- Keys hold ``id()``s (owners are compared by identity, never ``==``, and
  may be unhashable). That is safe because a dying object's callback is
  queued before its memory can be reused, and every method applies the
  queue before it looks a key up. Only dispatch reads without the lock, so
  only the per-call ``extra`` deduplication checks identity as well.
- Dispatch takes no lock: it reads an immutable per-hook plan, rebuilt lazily
  after a change, and checks each owner's weak reference as it goes, so an
  owner that dies mid-dispatch is skipped and nothing fails.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import logging
import sys
import threading
import types
import weakref
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, Literal

from lifecycle._accel import DispatchBase, speedups
from lifecycle.catalog import Catalog, ResolvedIntegrations
from lifecycle.catalog import catalog as default_catalog
from lifecycle.dispatchers import pure_dispatch, pure_dispatcher
from lifecycle.entries import (
    METHOD,
    NAME,
    Anchor,
    Callback,
    Entry,
    Getter,
    Spec,
    classify,
    constant,
    dedup_key,
    describe,
    weakly_referable,
)
from lifecycle.errors import CallbackLimitError
from lifecycle.hooks import RUNS_GENERIC_CALLBACKS, SYNC_HOOKS, Hook, HookLike, as_hook
from lifecycle.integrations import CustomLogger
from lifecycle.plans import FIXED_ARITY, Item, Plan, arun, build_plan, plan_item, run_any
from lifecycle.scope import OwnerScope
from lifecycle.selfref import reference_path
from lifecycle.stats import RegistryStats

log = logging.getLogger("lifecycle")

# Enum member access costs ~0.1 us on CPython 3.11 (gh-93910): hot paths read module constants.
_GENERIC = Hook.CALLBACKS

OnLimit = Literal["warn", "raise"]


def _death_callback(
    registry_ref: weakref.ReferenceType[CallbackRegistry],
    is_finalizing: Callable[[], bool] = sys.is_finalizing,
) -> Callable[[str, int, weakref.ReferenceType[Any]], None]:
    """The one weak-reference callback of a registry's anchors.

    Each anchor's weak reference carries ``partial(on_anchor_death, table, key)``:
    the name of the table it lives in (a name, not the dict, so that no
    reference cycle runs through the registry) and its key there. It holds
    the registry weakly (a dropped registry is not kept alive by the objects
    it watched) and does nothing while the interpreter shuts down, when the
    modules it would need may already be gone.
    """

    def on_anchor_death(table: str, key: int, ref: weakref.ReferenceType[Any]) -> None:
        if is_finalizing():
            return
        registry = registry_ref()
        if registry is None:
            return
        registry._pending.append((table, key, ref))
        if registry._lock.acquire(blocking=False):
            registry._release()

    return on_anchor_death


class CallbackRegistry(DispatchBase):
    """Lifecycle hooks holding bound methods weakly, tagged with their owner.

    ``max_callbacks`` bounds each hook; a registration beyond it is refused
    (``on_limit="warn"``: one WARNING and ``False``; ``"raise"``:
    ``CallbackLimitError``). Integration names resolve through ``catalog``
    (default: ``lifecycle.catalog``).
    """

    def __init__(
        self,
        *,
        max_callbacks: int = 30,
        on_limit: OnLimit = "warn",
        catalog: Catalog | None = None,
        name: str | None = None,
    ) -> None:
        if isinstance(max_callbacks, bool) or not isinstance(max_callbacks, int) or max_callbacks < 1:
            raise ValueError(f"max_callbacks must be a positive int, got {max_callbacks!r}")
        if on_limit not in ("warn", "raise"):
            raise ValueError(f"on_limit must be 'warn' or 'raise', got {on_limit!r}")
        if catalog is not None and not isinstance(catalog, Catalog):
            raise TypeError(f"catalog must be a lifecycle.Catalog, got {type(catalog).__name__}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str, got {type(name).__name__}")
        self.max_callbacks = max_callbacks
        self.on_limit: OnLimit = on_limit
        self.name = name if name is not None else f"registry-{id(self):x}"
        self.catalog = catalog if catalog is not None else default_catalog
        self._integrations = ResolvedIntegrations(self.catalog, self.name)
        self._lock = threading.Lock()
        self._pending: list[tuple[str, int, weakref.ReferenceType[Any]]] = []
        self._entries: dict[Hook, dict[int, Entry]] = {hook: {} for hook in Hook}
        self._index: dict[Hook, dict[Hashable, Entry]] = {hook: {} for hook in Hook}
        self._owners: dict[int, Anchor] = {}
        self._targets: dict[int, Anchor] = {}
        self._tables = {"owners": self._owners, "targets": self._targets}
        self._plans: dict[Hook, Plan | None] = dict.fromkeys(Hook)
        self._sync_plans: dict[Hook, Plan | None] = dict.fromkeys(SYNC_HOOKS)
        self._serials = itertools.count()
        self._on_anchor_death = _death_callback(weakref.ref(self))
        self._added = self._duplicates = self._refused = self._removed = self._collected = 0

    # -- locking and pending removals ---------------------------------------------------

    def _acquire(self) -> None:
        self._lock.acquire()
        if self._pending:
            self._apply_pending()

    def _release(self) -> None:
        """Apply pending removals, unlock, and never strand one queued meanwhile."""
        while True:
            if self._pending:
                self._apply_pending()
            self._lock.release()
            if not self._pending or not self._lock.acquire(blocking=False):
                return

    def _apply_pending(self) -> None:
        pending = self._pending
        while pending:
            table, key, ref = pending.pop()
            anchor = self._tables[table].get(key)
            if anchor is not None and anchor.ref is ref:
                self._drop_anchor_entries(anchor, collected=True)

    # -- changes (always under the lock) ------------------------------------------------

    def _anchor(self, name: str, obj: object) -> Anchor:
        table = self._tables[name]
        key = id(obj)
        anchor = table.get(key)
        if anchor is not None:
            return anchor
        if weakly_referable(obj):
            ref: Getter = weakref.ref(obj, functools.partial(self._on_anchor_death, name, key))
        else:
            ref = constant(obj)
        anchor = table[key] = Anchor(ref, name, key)
        return anchor

    def _insert(self, hook: Hook, spec: Spec) -> None:
        kind, _, callback, owner, weak, _ = spec
        owner_anchor = None
        if owner is not None:
            owner_anchor = self._owners.get(id(owner)) or self._anchor("owners", owner)
        target_anchor = self._anchor("targets", callback) if weak and kind != METHOD else None
        entry = Entry(next(self._serials), hook, spec, owner_anchor, target_anchor)
        self._entries[hook][entry.serial] = entry
        self._index[hook][entry.key] = entry
        for anchor in (owner_anchor, target_anchor):
            if anchor is not None:
                anchor.entries[entry.serial] = entry
        self._added += 1
        if self._plans[hook] is not None or hook is _GENERIC:
            self._invalidate(hook)

    def _remove_entry(self, entry: Entry, *, collected: bool = False) -> bool:
        hook = entry.hook
        if self._entries[hook].pop(entry.serial, None) is None:
            return False
        index = self._index[hook]
        if index.get(entry.key) is entry:
            del index[entry.key]
        for anchor in (entry.owner_anchor, entry.target_anchor):
            if anchor is not None:
                anchor.entries.pop(entry.serial, None)
                if not anchor.entries:
                    self._forget(anchor)
        if collected:
            self._collected += 1
        else:
            self._removed += 1
        self._invalidate(hook)
        return True

    def _drop_anchor_entries(self, anchor: Anchor, *, collected: bool) -> int:
        """Remove every entry of a dying or removed owner: one pass, the anchor forgotten first.

        The teardown path of every owner, so it does not go through
        ``_remove_entry`` (which would update the doomed anchor entry by entry).
        """
        self._forget(anchor)
        entries, anchor.entries = anchor.entries, {}
        removed = 0
        for serial, entry in entries.items():
            hook = entry.hook
            if self._entries[hook].pop(serial, None) is None:
                continue
            removed += 1
            index = self._index[hook]
            if index.get(entry.key) is entry:
                del index[entry.key]
            other = entry.target_anchor if entry.owner_anchor is anchor else entry.owner_anchor
            if other is not None:
                other.entries.pop(serial, None)
                if not other.entries:
                    self._forget(other)
            if self._plans[hook] is not None or hook is _GENERIC:
                self._invalidate(hook)
        if collected:
            self._collected += removed
        else:
            self._removed += removed
        return removed

    def _forget(self, anchor: Anchor) -> None:
        """Drop an anchor, and with it its weak reference: its callback will never run."""
        table = self._tables[anchor.table]
        if table.get(anchor.key) is anchor:
            del table[anchor.key]

    def _set_plan(self, hook: Hook, plan: Plan | None) -> None:
        self._plans[hook] = plan
        if hook in self._sync_plans:
            self._sync_plans[hook] = plan

    def _invalidate(self, hook: Hook) -> None:
        if self._plans[hook] is not None:
            self._set_plan(hook, None)
        if hook is _GENERIC:
            for dependent in RUNS_GENERIC_CALLBACKS:
                self._set_plan(dependent, None)

    def _rebuild(self, hook: HookLike) -> Plan:
        hook = as_hook(hook)
        self._acquire()
        try:
            plan = self._plans[hook]
            if plan is None:
                entries: Iterable[Entry] = self._entries[hook].values()
                if hook in RUNS_GENERIC_CALLBACKS:
                    entries = itertools.chain(entries, self._entries[Hook.CALLBACKS].values())
                plan = build_plan(entries, hook, self._integrations.resolve)
                self._set_plan(hook, plan)
            return plan
        finally:
            self._release()

    # -- registration -------------------------------------------------------------------

    def add(self, hook: HookLike, callback: Callback, *, owner: object = None, weak: bool | None = None) -> bool:
        """Register ``callback`` on ``hook``; ``False`` for a duplicate or a refusal at the limit."""
        if hook.__class__ is not Hook:
            hook = as_hook(hook)
        spec = classify(callback, owner, weak)
        kind, key, _, _, held_weakly, _ = spec
        self_reference = None
        if owner is not None and not held_weakly and kind != METHOD:
            self_reference = reference_path(callback, owner)
        self._lock.acquire()  # _acquire(), inlined on this path
        try:
            if self._pending:
                self._apply_pending()
            if key in self._index[hook]:
                self._duplicates += 1
                outcome = "duplicate"
            elif len(self._entries[hook]) >= self.max_callbacks:
                self._refused += 1
                outcome = "refused"
            else:
                self._insert(hook, spec)
                outcome = "added"
        finally:
            self._release()
        if outcome == "added" and self_reference is None:
            return True
        if outcome == "duplicate":
            if log.isEnabledFor(logging.DEBUG):
                log.debug("registry %r: %s is already on hook %r", self.name, describe(callback), hook.value)
            return False
        if outcome == "refused":
            message = (
                f"registry {self.name!r}: hook {hook.value!r} already holds {self.max_callbacks} "
                f"callbacks (max_callbacks={self.max_callbacks}); refused {describe(callback)}. "
                f"Remove the callbacks of discarded objects (remove_owner) or raise max_callbacks"
            )
            if self.on_limit == "raise":
                raise CallbackLimitError(message)
            log.warning(message)
            return False
        if self_reference is not None:
            log.warning(
                "registry %r: %s was registered with owner=%s but holds that owner itself "
                "(%s); the registry holds the callback strongly, so the owner can never be "
                "collected. Register a bound method of the owner instead, or let the callback "
                "refer to the owner through a weakref",
                self.name,
                describe(callback),
                type(owner).__qualname__,
                self_reference,
            )
        return True

    def add_input_callback(self, callback: Callback, *, owner: object = None, weak: bool | None = None) -> bool:
        """``add(Hook.INPUT, ...)``."""
        return self.add(Hook.INPUT, callback, owner=owner, weak=weak)

    def add_success_callback(self, callback: Callback, *, owner: object = None, weak: bool | None = None) -> bool:
        """``add(Hook.SUCCESS, ...)``; a coroutine function goes to ``ASYNC_SUCCESS``."""
        hook = Hook.ASYNC_SUCCESS if _is_coroutine_function(callback) else Hook.SUCCESS
        return self.add(hook, callback, owner=owner, weak=weak)

    def add_failure_callback(self, callback: Callback, *, owner: object = None, weak: bool | None = None) -> bool:
        """``add(Hook.FAILURE, ...)``; a coroutine function goes to ``ASYNC_FAILURE``."""
        hook = Hook.ASYNC_FAILURE if _is_coroutine_function(callback) else Hook.FAILURE
        return self.add(hook, callback, owner=owner, weak=weak)

    def add_async_success_callback(
        self, callback: Callback, *, owner: object = None, weak: bool | None = None
    ) -> bool:
        """``add(Hook.ASYNC_SUCCESS, ...)``."""
        return self.add(Hook.ASYNC_SUCCESS, callback, owner=owner, weak=weak)

    def add_async_failure_callback(
        self, callback: Callback, *, owner: object = None, weak: bool | None = None
    ) -> bool:
        """``add(Hook.ASYNC_FAILURE, ...)``."""
        return self.add(Hook.ASYNC_FAILURE, callback, owner=owner, weak=weak)

    def add_service_callback(self, callback: Callback, *, owner: object = None, weak: bool | None = None) -> bool:
        """``add(Hook.SERVICE, ...)``."""
        return self.add(Hook.SERVICE, callback, owner=owner, weak=weak)

    def add_callback(self, callback: Callback, *, owner: object = None, weak: bool | None = None) -> bool:
        """``add(Hook.CALLBACKS, ...)``: fires on success and on failure, sync and async."""
        return self.add(Hook.CALLBACKS, callback, owner=owner, weak=weak)

    def bind(self, owner: object) -> OwnerScope:
        """A scope that registers with ``owner=owner`` and removes it all on ``close()``."""
        return OwnerScope(self, owner)

    # -- removal ------------------------------------------------------------------------

    def _hooks(self, hook: HookLike | None) -> Sequence[Hook]:
        return tuple(Hook) if hook is None else (as_hook(hook),)

    def remove(self, callback: Callback, hook: HookLike | None = None) -> int:
        """Remove the entries that are duplicates of ``callback``, in ``hook`` or in all."""
        _, key, _ = dedup_key(callback)
        hooks = self._hooks(hook)
        removed = 0
        self._acquire()
        try:
            for each in hooks:
                entry = self._index[each].get(key)
                if entry is not None:
                    removed += self._remove_entry(entry)
        finally:
            self._release()
        return removed

    def remove_owner(self, owner: object) -> int:
        """Remove every entry whose owner *is* ``owner``, and cancel its finalizer."""
        self._acquire()
        try:
            anchor = self._owners.get(id(owner))
            if anchor is None or anchor.ref() is not owner:
                return 0
            return self._drop_anchor_entries(anchor, collected=False)
        finally:
            self._release()

    def remove_by_type(self, cls: type | tuple[type, ...], hook: HookLike | None = None) -> int:
        """Remove every entry whose callback or owner is an instance of ``cls``.

        An integration name counts as an instance of the class its catalog
        entry resolves to (the instance this registry already made, or the
        catalog factory when that factory is a class), so a name configured as a
        string is swapped out like the object it stands for.
        """
        classes = cls if isinstance(cls, tuple) else (cls,)
        if not classes or not all(isinstance(each, type) for each in classes):
            raise TypeError(f"remove_by_type takes a class or a tuple of classes, got {cls!r}")
        hooks = self._hooks(hook)
        self._acquire()
        try:
            candidates = [
                (entry, entry.callback(), entry.owner())
                for each in hooks
                for entry in self._entries[each].values()
            ]
        finally:
            self._release()
        # isinstance() may run a metaclass's __instancecheck__: never under the lock.
        doomed = [
            entry
            for entry, callback, owner in candidates
            if isinstance(callback, classes)
            or isinstance(owner, classes)
            or (entry.kind == NAME and self._name_is_a(str(callback), classes))
        ]
        del candidates
        self._acquire()
        try:
            return sum(self._remove_entry(entry) for entry in doomed)
        finally:
            self._release()

    def _name_is_a(self, name: str, classes: tuple[type, ...]) -> bool:
        resolved = self._integrations.peek(name)
        if resolved is not None:
            return isinstance(resolved, classes)
        factory = self._integrations.factory(name)
        return isinstance(factory, type) and issubclass(factory, classes)

    def clear(self, hook: HookLike | None = None) -> int:
        """Remove every entry, in ``hook`` or in all; how many were removed."""
        hooks = self._hooks(hook)
        removed = 0
        self._acquire()
        try:
            for each in hooks:
                removed += sum(self._remove_entry(entry) for entry in list(self._entries[each].values()))
        finally:
            self._release()
        return removed

    # -- queries ------------------------------------------------------------------------

    def callbacks(self, hook: HookLike) -> tuple[Any, ...]:
        """The live callbacks of ``hook``, in registration order."""
        hook = as_hook(hook)
        self._acquire()
        try:
            live = [entry.callback() for entry in self._entries[hook].values()]
        finally:
            self._release()
        return tuple(callback for callback in live if callback is not None)

    def count(self, hook: HookLike) -> int:
        """Live entries of ``hook``."""
        hook = as_hook(hook)
        self._acquire()
        try:
            return len(self._entries[hook])
        finally:
            self._release()

    def __len__(self) -> int:
        self._acquire()
        try:
            return sum(map(len, self._entries.values()))
        finally:
            self._release()

    def stats(self) -> RegistryStats:
        """Live counts per hook and owners, and the counters since creation."""
        self._acquire()
        try:
            return RegistryStats(
                per_hook=types.MappingProxyType({hook.value: len(self._entries[hook]) for hook in Hook}),
                owners=len(self._owners),
                added=self._added,
                duplicates=self._duplicates,
                refused=self._refused,
                removed=self._removed,
                collected=self._collected,
            )
        finally:
            self._release()

    def __repr__(self) -> str:
        stats = self.stats()
        return f"<CallbackRegistry {self.name!r}: {stats.total} callbacks, {stats.owners} owners>"

    # -- dispatch -----------------------------------------------------------------------

    def _sync_plan(self, hook: HookLike) -> Plan:
        try:
            plan = self._sync_plans[hook]  # type: ignore[index]
        except (KeyError, TypeError):
            raise _not_a_sync_hook(hook) from None
        return self._rebuild(hook) if plan is None else plan

    def _extra_items(self, hook: Hook, plan: Plan, extra: Iterable[Callback]) -> list[Item]:
        """Items for the per-call callbacks that are not duplicates of the plan's.

        Compared by deduplication key (and identity where the key holds an id),
        never by hashing the callbacks themselves, which may be unhashable.
        """
        if isinstance(extra, (str, CustomLogger)) or callable(extra):
            raise TypeError(
                f"extra= takes a sequence of callbacks, got a single {type(extra).__name__}; wrap it in a list"
            )
        seen: dict[Hashable, object] = {entry.key: entry.identity() for entry in plan.entries}
        items: list[Item] = []
        for callback in extra:
            spec = classify(callback, None, False)
            _, key, _, _, _, identity = spec
            if key in seen and seen[key] is identity:
                continue
            seen[key] = identity
            item = plan_item(Entry(-1, hook, spec, None, None), hook, self._integrations.resolve)
            if item is not None:
                items.append(item)
        return items

    def dispatch(self, hook: HookLike, *args: Any, extra: Iterable[Callback] = (), **kwargs: Any) -> int:
        """Call the live callbacks of a sync hook (and ``CALLBACKS`` for success and failure).

        Then the ``extra`` callbacks that are not duplicates of one already
        called. Returns how many callbacks were called.
        """
        try:  # inlined _sync_plan: this is the hot path
            plan = self._sync_plans[hook]  # type: ignore[index]
        except (KeyError, TypeError):
            raise _not_a_sync_hook(hook) from None
        if plan is None:
            plan = self._rebuild(hook)
        items = plan + tuple(self._extra_items(as_hook(hook), plan, extra)) if extra else plan
        if kwargs or len(args) > 4:
            return run_any(items, args, kwargs)
        return FIXED_ARITY[len(args)](items, args)

    #: The general dispatch (``extra=``, keywords, every error). The hot one, in C
    #: (``lifecycle._speedups``) or with the loop inlined (``lifecycle.dispatchers``),
    #: hands it everything unusual.
    _dispatch_slow = dispatch
    dispatch = speedups.DispatchBase.dispatch if speedups is not None else pure_dispatch

    def dispatcher(self, hook: HookLike) -> Callable[..., int]:
        """A pre-bound ``dispatch(hook, ...)`` for hot paths; it stays current as callbacks change."""
        self._sync_plan(hook)
        key = as_hook(hook)
        make = pure_dispatcher if speedups is None else speedups.dispatcher
        fire: Callable[..., int] = make(self._sync_plans, key, self._rebuild, f"dispatch_{key.value}")
        return fire

    async def adispatch(
        self,
        hook: HookLike,
        *args: Any,
        extra: Iterable[Callback] = (),
        concurrent: bool = False,
        **kwargs: Any,
    ) -> int:
        """Call and await a hook's callbacks, in order (``concurrent=True``: together).

        ``ASYNC_SUCCESS``/``ASYNC_FAILURE`` (and ``SUCCESS``/``FAILURE``) also
        run ``CALLBACKS``. Returns how many callbacks were called.
        """
        hook = as_hook(hook)
        plan = self._plans[hook]
        if plan is None:
            plan = self._rebuild(hook)
        items: Iterable[Item] = plan
        if extra:
            items = plan + tuple(self._extra_items(hook, plan, extra))
        return await arun(items, args, kwargs, concurrent)


def _not_a_sync_hook(hook: object) -> ValueError:
    member = as_hook(hook)  # raises the ValueError for unknown hooks
    if member is Hook.CALLBACKS:
        return ValueError("CALLBACKS is not an event of its own: dispatch SUCCESS or FAILURE, which run it")
    return ValueError(f"{member.value!r} is an async hook: use 'await registry.adispatch({member.value!r}, ...)'")


def _is_coroutine_function(callback: object) -> bool:
    return not isinstance(callback, (str, CustomLogger)) and inspect.iscoroutinefunction(callback)


#: The process-wide registry.
default_registry = CallbackRegistry(name="default")
