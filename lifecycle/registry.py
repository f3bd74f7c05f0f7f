"""The callback registry: lifecycle hooks that never keep their subscribers alive.

How it stays correct when anything can happen between two bytecodes:

- **One process-wide lock, re-entrant.** Every change and every query of a
  registry's tables runs inside ``with _LOCK:``, a C-level context manager,
  so an exception raised anywhere (``KeyboardInterrupt``, an exception from a
  signal handler) releases it: no line sits between taking the lock and the
  block that gives it back. One lock for every registry, so that finalizers
  calling into two registries from two threads cannot take two locks in
  opposite orders.
- **Re-entry never blocks.** Code that runs on a thread that is already inside
  a critical section (a finalizer the collector runs at an allocation, a
  ``__del__``, a signal handler) sees ``_LOCK._is_owned()`` and does not
  take the lock again: a change is queued on its registry (``add`` answers
  ``True``, a removal ``0``) and applied by the outermost critical section
  before it releases the lock, so before the interrupted call returns; a
  query answers from the tables as they are, which are consistent at every
  bytecode boundary because each change commits with one dictionary
  operation on ``_entries``.
- **Deaths are queued, never applied by the dying object's callback.** An
  anchor's weak-reference callback (any thread, any allocation) only appends
  to ``_deaths``; every change and query applies the queue first, so after
  ``gc.collect()`` no query sees a dead owner's entries. Dispatch skips dead
  owners as it goes.
- **No user code under the lock where it can be avoided.** Keys hold only
  exact built-in types (``id()``s, strings, numbers), so comparing them runs
  no ``__eq__``; plans are built outside the lock (they look up logger
  methods); what a change removes (entries, plans, anchors) is kept in
  ``_graveyard`` and dropped after the lock is released; messages are
  formatted after it too.
- **Asynchronous exceptions do not corrupt.** ``_entries`` is the one source
  of truth; everything else (the duplicate index, anchors, plans) is derived.
  Each change commits with one operation on ``_entries``; if an exception
  lands mid-change, ``_repair`` rebuilds the derived tables from it before
  the exception propagates, and an applied death or queued change is
  popped only after it took effect (applying one twice changes nothing).
- **Fork-safe.** ``os.register_at_fork`` takes ``_LOCK`` before a fork and
  gives it back in both processes, so a child never inherits a registry in
  the middle of another thread's change, as ``logging`` does for its lock.
- **Tables shrink.** A dict keeps its size after deletions; after mass death
  the tables are copied so that a change or a plan costs what is alive.
- Keys hold ``id()``s (owners are compared by identity, never ``==``, and
  may be unhashable). That is safe because a dying object's callback is
  queued before its memory can be reused, and every change applies the queue
  before it looks a key up. Only dispatch reads without the lock, so only
  the per-call ``extra`` deduplication checks identity as well.
- Dispatch takes no lock: it reads an immutable per-hook plan, rebuilt lazily
  after a change, and checks each owner's weak reference as it goes, so an
  owner that dies mid-dispatch is skipped and nothing fails.
"""

from __future__ import annotations

import collections
import inspect
import itertools
import logging
import os
import threading
import types
import weakref
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, Literal, TypeVar

from lifecycle._accel import DispatchBase, speedups
from lifecycle._checks import int_at_least
from lifecycle.catalog import Catalog, ResolvedIntegrations
from lifecycle.catalog import catalog as default_catalog
from lifecycle.dispatchers import pure_dispatch, pure_dispatcher
from lifecycle.entries import (
    CALLABLE,
    FUNCTIONS,
    OWNERS,
    TARGETS,
    Anchor,
    CallableEntry,
    Callback,
    Entry,
    Item,
    NameEntry,
    Spec,
    classify,
    constant,
    dedup_key,
    transient_item,
    weakly_referable,
)
from lifecycle.errors import CallbackLimitError
from lifecycle.hooks import RUNS_GENERIC_CALLBACKS, SYNC_HOOKS, Hook, HookLike, as_hook
from lifecycle.integrations import CustomLogger
from lifecycle.naming import describe, type_name
from lifecycle.plans import FIXED_ARITY, Plan, arun, build_plan, run_any
from lifecycle.scope import OwnerScope
from lifecycle.selfref import reference_path
from lifecycle.stats import RegistryStats

log = logging.getLogger("lifecycle")

# Enum member access costs ~0.1 us on CPython 3.11 (gh-93910): hot paths read module constants.
_GENERIC = Hook.CALLBACKS

OnLimit = Literal["warn", "raise"]
T = TypeVar("T")

#: Guards every registry's tables. Re-entrant: see the module docstring.
_LOCK = threading.RLock()
#: True when this thread is inside a registry's critical section (a C-level call).
_owned: Callable[[], bool] = _LOCK._is_owned  # type: ignore[attr-defined]
#: Registries that re-entrant calls queued changes on; the outermost critical section settles them.
_UNSETTLED: collections.deque[CallbackRegistry] = collections.deque()


def _settle_others() -> None:
    """Apply what re-entrant calls queued on any registry (under ``_LOCK``, outermost only)."""
    while _UNSETTLED:
        registry = _UNSETTLED[0]
        try:
            registry._settle()
        except BaseException:
            registry._damaged = True
            registry._repair()
            raise
        _UNSETTLED.popleft()


if hasattr(os, "register_at_fork"):  # pragma: no branch - POSIX
    os.register_at_fork(before=_LOCK.acquire, after_in_parent=_LOCK.release, after_in_child=_LOCK.release)

#: How many rounds of deaths caused by dropping removed callbacks a query waits out.
_CASCADE = 8


def _nothing() -> None:
    """A change that changes nothing: running it settles what is queued."""


#: Removals since the last compaction before the tables are copied, at least.
_COMPACT_AFTER = 1024

_ADDED, _DUPLICATE, _REFUSED = "added", "duplicate", "refused"


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
        int_at_least(max_callbacks, "max_callbacks", 1)
        if on_limit not in ("warn", "raise"):
            raise ValueError(f"on_limit must be 'warn' or 'raise', got {on_limit!r}")
        if catalog is not None and not isinstance(catalog, Catalog):
            raise TypeError(f"catalog must be a lifecycle.Catalog, got {type_name(catalog)}")
        if name is not None and type(name) is not str:
            raise TypeError(f"name must be a str, got {type_name(name)}")
        self.max_callbacks = max_callbacks
        self.on_limit: OnLimit = on_limit
        self.name = name if name is not None else f"registry-{id(self):x}"
        self.catalog = catalog if catalog is not None else default_catalog
        self._integrations = ResolvedIntegrations(self.catalog, self.name)
        # Appended to on the right by any thread; only the settling thread pops, on the left,
        # so what it pops is what it peeked and applied.
        # An anchor's weak-reference callback is this deque's C-level append: a dying object
        # queues its own weak reference, and no Python line runs (none for an exception to hit).
        self._deaths: collections.deque[weakref.ReferenceType[Any]] = collections.deque()
        self._by_ref: dict[int, Anchor] = {}  # id(anchor.ref) -> anchor, for the anchors that watch a death
        self._queued: collections.deque[tuple[Callable[..., object], tuple[Any, ...]]] = collections.deque()
        self._graveyard: list[object] = []  # what changes removed, dropped after the lock
        self._messages: list[tuple[int, str]] = []  # (level, text) logged after the lock
        self._entries: dict[Hook, dict[int, Entry]] = {hook: {} for hook in Hook}  # the source of truth
        self._index: dict[Hook, dict[Hashable, Entry]] = {hook: {} for hook in Hook}
        self._tables: dict[str, dict[int, Anchor]] = {OWNERS: {}, TARGETS: {}, FUNCTIONS: {}}
        self._plans: dict[Hook, Plan | None] = dict.fromkeys(Hook)
        self._sync_plans: dict[Hook, Plan | None] = dict.fromkeys(SYNC_HOOKS)
        self._version = 0  # bumped by every change of a plan's inputs
        self._serials = itertools.count()
        self._duplicates = self._refused = self._removed = self._collected = 0
        self._churn = 0  # removals since the tables were last compacted
        self._damaged = False  # an exception interrupted a change, and the repair is not finished

    # -- the lock protocol --------------------------------------------------------------

    def _change(
        self,
        change: Callable[..., T],
        args: tuple[Any, ...],
        queued: T,
        later: Callable[..., object] | None = None,
    ) -> T:
        """``change(*args)`` under the lock.

        On a same-thread re-entry, ``later`` (default: ``change``) is queued
        with ``args`` instead, and ``queued`` returned.
        """
        if _owned():  # this thread is inside a registry's critical section: queue, never wait
            self._queued.append((later or change, args))
            _UNSETTLED.append(self)
            return queued
        result = self._under_lock(change, args)
        if self._graveyard or self._messages or _UNSETTLED:
            self._after_release()
        return result

    def _under_lock(self, change: Callable[..., T], args: tuple[Any, ...]) -> T:
        """``_locked(change, args)`` with the lock held; only called when this thread does not hold it.

        ``with _LOCK:`` gives the lock back wherever an exception lands in its
        body, with two exceptions that a trace function can raise at:
        CPython's exception table leaves out every ``NOP`` (so the body holds
        no ``try:`` line: that is in ``_locked``), and the line event when the
        ``with`` line is entered again to call ``__exit__``; the outer
        ``except`` catches that one and releases the lock this call took.
        """
        try:
            with _LOCK:
                return self._locked(change, args)
        except BaseException:
            if _owned():
                _LOCK.release()
            raise

    def _locked(self, change: Callable[..., T], args: tuple[Any, ...]) -> T:
        """Settle, ``change(*args)``, settle; on any exception, repair before it propagates."""
        try:
            if self._damaged:  # a repair was cut short by a second exception: finish it first
                self._repair()
            if self._deaths or self._queued:
                self._settle()
            result = change(*args)
            if self._queued or self._churn > _COMPACT_AFTER:
                self._settle()
            if _UNSETTLED:
                _settle_others()
        except BaseException:
            self._damaged = True
            self._repair()
            raise
        return result

    def _query(self, query: Callable[..., T], *args: Any) -> T:
        """``query(*args)`` on settled tables (on the tables as they are, on a re-entry).

        Settling first, through a change that lets what it removed die
        after the lock, makes the deaths that those drops cause (a strong
        callback that held the last reference to another owner) part of the
        answer too, so two queries in a row agree.
        """
        if _owned():
            return query(*args)
        for _ in range(_CASCADE):
            if not (self._deaths or self._queued):
                break
            self._change(_nothing, (), None)
        result = self._under_lock(query, args)
        if self._graveyard or self._messages or _UNSETTLED:
            self._after_release()
        return result

    def _settle(self) -> None:
        """Apply queued deaths, then queued changes; each popped only once it took effect."""
        deaths, queued = self._deaths, self._queued
        while deaths or queued:
            while deaths:
                ref = deaths[0]
                anchor = self._by_ref.get(id(ref))
                if anchor is not None and anchor.ref is ref:
                    self._drop_anchor(anchor, collected=True)
                deaths.popleft()
            if queued:
                change, args = queued[0]
                try:
                    change(*args)
                except Exception:  # a bug of ours must not wedge every later call: say it, go on
                    log.exception("registry %r: a queued change failed", self.name)
                queued.popleft()
        if self._churn > _COMPACT_AFTER:
            if self._churn > 4 * sum(map(len, self._entries.values())):
                self._compact()
            else:
                self._churn = 0  # most of what was removed was replaced: the tables are in use

    def _after_release(self) -> None:
        """Drop what the change removed and log what it said, with no lock held.

        Also settles a registry that a re-entrant call queued a change on in
        the instant between the last check and the release.
        """
        if _owned():
            return  # still inside a critical section (a re-entry): the outermost call does it
        if _UNSETTLED:
            self._under_lock(_nothing, ())  # settles the others on its way out
        if self._graveyard:
            dead, self._graveyard = self._graveyard, []
            del dead
        if self._messages:
            messages, self._messages = self._messages, []
            for level, text in messages:
                log.log(level, text)

    def _repair(self) -> None:
        """Rebuild everything derived from ``_entries`` after an exception interrupted a change."""
        live = {serial: entry for entries in self._entries.values() for serial, entry in entries.items()}
        for hook, entries in self._entries.items():
            self._index[hook] = {entry.key: entry for entry in entries.values()}
        for serial, entry in live.items():  # first: a live entry's anchor may have been forgotten already
            for anchor in entry.anchors:
                self._tables[anchor.table].setdefault(anchor.key, anchor).entries[serial] = entry
        for name, table in self._tables.items():
            for key, anchor in list(table.items()):
                anchor.entries = {s: e for s, e in anchor.entries.items() if live.get(s) is e}
                if not anchor.entries or anchor.key != key or anchor.table != name:
                    del table[key]
        self._by_ref = {id(anchor.ref): anchor for anchor in self._watched()}
        for hook in Hook:
            self._set_plan(hook, None)
        self._version += 1
        self._damaged = False

    def _compact(self) -> None:
        """Copy the tables: a dict never shrinks, and walking its holes costs as much as entries."""
        for hook in Hook:
            self._entries[hook] = dict(self._entries[hook])
            self._index[hook] = dict(self._index[hook])
        for name in list(self._tables):
            table = self._tables[name] = dict(self._tables[name])
            for anchor in table.values():  # a function's anchor lists the entries of every owner
                anchor.entries = dict(anchor.entries)
        self._by_ref = dict(self._by_ref)
        self._churn = 0

    # -- changes (always under _LOCK, outermost) ------------------------------------------------

    def _anchor(self, table_name: str, obj: object) -> Anchor:
        table = self._tables[table_name]
        key = id(obj)
        anchor = table.get(key)
        if anchor is not None:
            return anchor
        if weakly_referable(obj):
            watcher = weakref.ref(obj, self._deaths.append)
            anchor = Anchor(watcher, table_name, key)
            self._by_ref[id(watcher)] = anchor
        else:
            anchor = Anchor(constant(obj), table_name, key)
        table[key] = anchor
        return anchor

    def _add(self, hook: Hook, spec: Spec) -> str:
        """Insert one registration, or say why not; the insert commits on ``_entries``."""
        entry_class, key, callback, owner, held = spec
        index = self._index[hook]
        if key in index:
            self._duplicates += 1
            return _DUPLICATE
        entries = self._entries[hook]
        if len(entries) >= self.max_callbacks:
            self._refused += 1
            return _REFUSED
        tables = self._tables
        owner_anchor = None
        if owner is not None:
            owner_anchor = tables[OWNERS].get(id(owner)) or self._anchor(OWNERS, owner)
        held_anchor = None
        if held is not None:
            held_in = entry_class.held_in
            assert held_in is not None
            held_anchor = tables[held_in].get(id(held)) or self._anchor(held_in, held)
        serial = next(self._serials)
        entry = entry_class(serial, hook, key, owner_anchor, callback, held_anchor)
        for anchor in entry.anchors:
            anchor.entries[serial] = entry
        index[key] = entry
        entries[serial] = entry  # the commit
        self._version += 1
        if self._plans[hook] is not None or hook is _GENERIC:
            self._invalidate(hook)
        return _ADDED

    def _add_queued(self, hook: Hook, spec: Spec) -> None:
        """A re-entrant ``add``, applied later: nobody is left to tell of a refusal but the log."""
        if self._add(hook, spec) == _REFUSED:
            self._messages.append((logging.WARNING, self._refusal_message(hook, spec[2])))

    def _remove_entry(self, entry: Entry, *, collected: bool) -> bool:
        hook = entry.hook
        if self._entries[hook].pop(entry.serial, None) is None:  # the commit
            return False
        if collected:
            self._collected += 1
        else:
            self._removed += 1
        self._churn += 1
        self._graveyard.append(entry)
        index = self._index[hook]
        if index.get(entry.key) is entry:
            del index[entry.key]
        for anchor in entry.anchors:
            anchor.entries.pop(entry.serial, None)
            if not anchor.entries:
                self._forget(anchor)
        self._invalidate(hook)
        return True

    def _drop_anchor(self, anchor: Anchor, *, collected: bool) -> int:
        """Remove every entry of a dying or removed owner (or function, or weak callable).

        The teardown path of every owner, in one pass: the anchor is
        forgotten first, its entries go to the graveyard at the end (an entry
        and its anchors refer to each other: leaving them linked would leave
        a cycle for the collector), and each plan is invalidated once, not
        once per entry.
        """
        self._forget(anchor)
        entries_of = self._entries
        removed = 0
        hooks: set[Hook] = set()
        for serial, entry in list(anchor.entries.items()):
            hook = entry.hook
            if entries_of[hook].pop(serial, None) is None:  # the commit
                continue
            if collected:
                self._collected += 1
            else:
                self._removed += 1
            removed += 1
            index = self._index[hook]
            if index.get(entry.key) is entry:
                del index[entry.key]
            for other in entry.anchors:
                if other is not anchor:
                    other.entries.pop(serial, None)
                    if not other.entries:
                        self._forget(other)
            hooks.add(hook)
        self._graveyard.append(anchor.entries)  # the entries die after the lock, not in a cycle with it
        anchor.entries = {}
        self._churn += removed
        self._version += 1
        for hook in hooks:
            if self._plans[hook] is not None or hook is _GENERIC:
                self._invalidate(hook)
        return removed

    def _forget(self, anchor: Anchor) -> None:
        """Drop an anchor, and with it its weak reference: its callback will never run."""
        table = self._tables[anchor.table]
        if table.get(anchor.key) is anchor:
            del table[anchor.key]
            if self._by_ref.get(id(anchor.ref)) is anchor:
                del self._by_ref[id(anchor.ref)]
            self._graveyard.append(anchor)

    def _set_plan(self, hook: Hook, plan: Plan | None) -> None:
        # An old plan is dropped here, under the lock: it holds nothing that its entries do
        # not hold, and the entries of a change are in the graveyard by now, so this runs no user code.
        self._plans[hook] = plan
        if hook in self._sync_plans:
            self._sync_plans[hook] = plan

    def _invalidate(self, hook: Hook) -> None:
        """Drop the plans that run ``hook``'s entries: the next dispatch rebuilds them."""
        self._version += 1
        if self._plans[hook] is not None:
            self._set_plan(hook, None)
        if hook is _GENERIC:
            for dependent in RUNS_GENERIC_CALLBACKS:
                if self._plans[dependent] is not None:
                    self._set_plan(dependent, None)

    def _plan_inputs(self, hook: Hook) -> tuple[Plan | None, int, tuple[Entry, ...]]:
        """The stored plan, or the version and entries to build one from."""
        plan = self._plans[hook]
        if plan is not None:
            return plan, self._version, ()
        entries = tuple(self._entries[hook].values())
        if hook in RUNS_GENERIC_CALLBACKS:
            entries += tuple(self._entries[_GENERIC].values())
        return None, self._version, entries

    def _store_plan(self, hook: Hook, plan: Plan, version: int) -> Plan:
        """Keep ``plan`` unless the hook changed while it was built (then it serves this call only)."""
        if self._version == version and self._plans[hook] is None:
            self._set_plan(hook, plan)
        return plan

    def _rebuild(self, hook: HookLike) -> Plan:
        """The hook's plan, built outside the lock (building one looks up logger methods)."""
        hook = as_hook(hook)
        plan, version, entries = self._query(self._plan_inputs, hook)
        if plan is not None:
            return plan
        plan = build_plan(entries, hook, self._integrations.resolve)
        del entries
        return self._change(self._store_plan, (hook, plan, version), plan)

    # -- registration -------------------------------------------------------------------

    def add(self, hook: HookLike, callback: Callback, *, owner: object = None, weak: bool | None = None) -> bool:
        """Register ``callback`` on ``hook``; ``False`` for a duplicate or a refusal at the limit.

        Called again from the same thread while this registry is in the middle
        of a change (a finalizer, a ``__del__``, a signal handler), the
        registration is queued, applied before the interrupted call returns,
        and ``add`` returns ``True``: it cannot know yet whether it will be a
        duplicate or refused (a refusal is then logged, never raised).
        """
        if type(hook) is not Hook:
            hook = as_hook(hook)
        spec = classify(callback, owner, weak)
        entry_class = spec[0]
        self_reference = None
        if owner is not None and entry_class is CallableEntry and type(callback) is not types.MethodType:
            self_reference = reference_path(callback, owner)
        # _change(self._add, (hook, spec), True, self._add_queued) with _under_lock's body, inlined:
        # add is the hot path of every build, and two calls fewer cost a sixth less (callgrind).
        if _owned():
            self._queued.append((self._add_queued, (hook, spec)))
            _UNSETTLED.append(self)
            return True
        try:
            with _LOCK:
                outcome = self._locked(self._add, (hook, spec))
        except BaseException:
            if _owned():
                _LOCK.release()
            raise
        if self._graveyard or self._messages or _UNSETTLED:
            self._after_release()
        if outcome == _ADDED and self_reference is None:
            return True
        if outcome == _DUPLICATE:
            if log.isEnabledFor(logging.DEBUG):
                log.debug("registry %r: %s is already on hook %r", self.name, describe(callback), hook.value)
            return False
        if outcome == _REFUSED:
            message = self._refusal_message(hook, callback)
            if self.on_limit == "raise":
                raise CallbackLimitError(message)
            log.warning(message)
            return False
        log.warning(
            "registry %r: %s was registered with owner=%s but holds that owner itself "
            "(%s); the registry holds the callback strongly, so the owner can never be "
            "collected. Register a bound method of the owner instead, or let the callback "
            "refer to the owner through a weakref",
            self.name,
            describe(callback),
            type_name(owner),
            self_reference,
        )
        return True

    def _refusal_message(self, hook: Hook, callback: object) -> str:
        return (
            f"registry {self.name!r}: hook {hook.value!r} already holds {self.max_callbacks} "
            f"callbacks (max_callbacks={self.max_callbacks}); refused {describe(callback)}. "
            f"Remove the callbacks of discarded objects (remove_owner) or raise max_callbacks"
        )

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
        """Remove the entries that are duplicates of ``callback``, in ``hook`` or in all.

        On a same-thread re-entry (see ``add``) the removal is queued and 0 returned.
        """
        try:
            _, key = dedup_key(callback)
        except TypeError:
            raise TypeError(
                f"remove() takes a callback as registered (an integration name, a lifecycle.CustomLogger, "
                f"a bound method or another callable), got a value of type {type_name(callback)}"
            ) from None
        return self._change(self._remove_keys, (self._hooks(hook), key), 0)

    def _remove_keys(self, hooks: Sequence[Hook], key: Hashable) -> int:
        removed = 0
        for each in hooks:
            entry = self._index[each].get(key)
            if entry is not None:
                removed += self._remove_entry(entry, collected=False)
        return removed

    def remove_owner(self, owner: object) -> int:
        """Remove every entry whose owner *is* ``owner``, and cancel its finalizer.

        On a same-thread re-entry (see ``add``) the removal is queued and 0 returned.
        """
        return self._change(self._remove_owner, (owner,), 0)

    def _remove_owner(self, owner: object) -> int:
        anchor = self._tables[OWNERS].get(id(owner))
        if anchor is None or anchor.ref() is not owner:
            return 0
        return self._drop_anchor(anchor, collected=False)

    def remove_by_type(self, cls: type | tuple[type, ...], hook: HookLike | None = None) -> int:
        """Remove every entry whose callback or owner is an instance of ``cls``.

        An integration name counts as an instance of the class its catalog
        entry resolves to (the instance this registry already made, or the
        catalog factory when that factory is a class), so a name configured as a
        string is swapped out like the object it stands for. Classes are
        compared on ``type(obj)``, never on ``obj.__class__`` (which can lie or
        raise); an entry whose class check raises is kept, and the others
        are still removed. On a same-thread re-entry the removal is queued and 0
        returned.
        """
        classes: tuple[type, ...] = cls if type(cls) is tuple else (cls,)  # type: ignore[assignment]
        if not classes or not all(isinstance(each, type) for each in classes):
            raise TypeError(f"remove_by_type takes a class or a tuple of classes, got {cls!r}")
        hooks = self._hooks(hook)
        candidates = self._query(self._type_candidates, hooks)
        # issubclass() may run a metaclass's __subclasscheck__: never under the lock.
        doomed = [entry for entry, callback, owner in candidates if self._is_a(entry, callback, owner, classes)]
        del candidates
        return self._change(self._remove_entries, (doomed,), 0)

    def _type_candidates(self, hooks: Sequence[Hook]) -> list[tuple[Entry, object, object]]:
        return [(entry, entry.callback(), entry.owner()) for each in hooks for entry in self._entries[each].values()]

    def _is_a(self, entry: Entry, callback: object, owner: object, classes: tuple[type, ...]) -> bool:
        try:
            if issubclass(type(callback), classes) or (owner is not None and issubclass(type(owner), classes)):
                return True
            return type(entry) is NameEntry and self._name_is_a(str(callback), classes)
        except Exception:  # a hostile __subclasscheck__ or factory: not a match, and the others go on
            return False

    def _name_is_a(self, name: str, classes: tuple[type, ...]) -> bool:
        resolved = self._integrations.peek(name)
        if resolved is not None:
            return issubclass(type(resolved), classes)
        factory = self._integrations.factory(name)
        return isinstance(factory, type) and issubclass(factory, classes)

    def _remove_entries(self, entries: Iterable[Entry]) -> int:
        return sum(self._remove_entry(entry, collected=False) for entry in entries)

    def clear(self, hook: HookLike | None = None) -> int:
        """Remove every entry, in ``hook`` or in all; how many were removed (0 when queued)."""
        return self._change(self._clear, (self._hooks(hook),), 0)

    def _clear(self, hooks: Sequence[Hook]) -> int:
        return sum(self._remove_entries(list(self._entries[each].values())) for each in hooks)

    # -- queries ------------------------------------------------------------------------

    def callbacks(self, hook: HookLike) -> tuple[Any, ...]:
        """The live callbacks of ``hook``, in registration order."""
        live = self._query(self._live_callbacks, as_hook(hook))
        return tuple(callback for callback in live if callback is not None)

    def _live_callbacks(self, hook: Hook) -> list[object]:
        return [entry.callback() for entry in self._entries[hook].values()]

    def count(self, hook: HookLike) -> int:
        """Live entries of ``hook``."""
        return self._query(self._count, as_hook(hook))

    def _count(self, hook: Hook) -> int:
        return len(self._entries[hook])

    def __len__(self) -> int:
        return self._query(self._total)

    def _total(self) -> int:
        return sum(map(len, self._entries.values()))

    def stats(self) -> RegistryStats:
        """Live counts per hook and owners, and the counters since creation."""
        return self._query(self._stats)

    def _stats(self) -> RegistryStats:
        per_hook = {hook.value: len(self._entries[hook]) for hook in Hook}
        return RegistryStats(
            per_hook=types.MappingProxyType(per_hook),
            owners=len(self._tables[OWNERS]),
            added=sum(per_hook.values()) + self._removed + self._collected,
            duplicates=self._duplicates,
            refused=self._refused,
            removed=self._removed,
            collected=self._collected,
        )

    def __repr__(self) -> str:
        stats = self.stats()
        return f"<CallbackRegistry {self.name!r}: {stats.total} callbacks, {stats.owners} owners>"

    def _watched(self) -> list[Anchor]:
        """The anchors whose object's death the registry hears of (held weakly, not by a getter)."""
        anchors = [anchor for table in self._tables.values() for anchor in table.values()]
        return [anchor for anchor in anchors if type(anchor.ref) is weakref.ref]

    def _check_invariants(self) -> None:
        """Raise ``AssertionError`` saying what is inconsistent; for tests.

        The rules: every entry is indexed under its key and hangs from each of
        its anchors, which sit in their tables; every anchor and index entry
        leads back to a live entry; no hook is over its bound; the queues are
        empty; a stored plan holds only live entries; and the public queries
        agree with each other.
        """
        problems = self._query(self._invariant_problems)
        stats = self.stats()
        counts = {hook.value: self.count(hook) for hook in Hook}
        if dict(stats.per_hook) != counts or stats.total != len(self):
            problems.append(f"queries disagree: stats {dict(stats.per_hook)}, count {counts}, len {len(self)}")
        if stats.added != stats.total + stats.removed + stats.collected:
            problems.append(f"counters do not add up: {stats}")
        assert not problems, f"registry {self.name!r}: " + "; ".join(problems)

    def _invariant_problems(self) -> list[str]:
        problems: list[str] = []
        if self._deaths or self._queued:
            problems.append(f"{len(self._deaths)} deaths and {len(self._queued)} changes still queued")
        live: dict[int, Entry] = {}
        for hook, entries in self._entries.items():
            if len(entries) > self.max_callbacks:
                problems.append(f"hook {hook.value!r} holds {len(entries)} > max_callbacks")
            if len(self._index[hook]) != len(entries):
                problems.append(f"hook {hook.value!r}: {len(self._index[hook])} keys for {len(entries)} entries")
            for serial, entry in entries.items():
                live[serial] = entry
                if entry.serial != serial or entry.hook is not hook:
                    problems.append(f"entry {serial} filed under the wrong hook or serial")
                if self._index[hook].get(entry.key) is not entry:
                    problems.append(f"entry {serial} is not indexed under its key")
                for anchor in entry.anchors:
                    if self._tables[anchor.table].get(anchor.key) is not anchor:
                        problems.append(f"entry {serial}: its {anchor.table} anchor is not in its table")
                    if anchor.entries.get(serial) is not entry:
                        problems.append(f"entry {serial} does not hang from its {anchor.table} anchor")
        watched = self._watched()
        dead = [a for a in watched if a.ref() is None and not any(r is a.ref for r in list(self._deaths))]
        if dead:
            problems.append(f"{len(dead)} anchors watch a dead object whose death was never recorded")
        if len(self._by_ref) != len(watched) or any(self._by_ref.get(id(a.ref)) is not a for a in watched):
            problems.append(f"{len(self._by_ref)} death watchers for {len(watched)} weakly held anchors")
        for name, table in self._tables.items():
            for key, anchor in table.items():
                if not anchor.entries:
                    problems.append(f"an empty anchor is left in {name}")
                if anchor.table != name or anchor.key != key:
                    problems.append(f"an anchor of {anchor.table} is filed in {name}")
                for serial, entry in anchor.entries.items():
                    if live.get(serial) is not entry:
                        problems.append(f"an anchor in {name} holds removed entry {serial}")
        for hook, plan in self._plans.items():
            if plan is not None and any(live.get(entry.serial) is not entry for entry in plan.entries):
                problems.append(f"the plan of {hook.value!r} holds removed entries")
        return problems

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
        if issubclass(type(extra), (str, CustomLogger)) or callable(extra):
            raise TypeError(
                f"extra= takes a sequence of callbacks, got a single {type_name(extra)}; wrap it in a list"
            )
        seen: dict[Hashable, object] = {entry.key: entry.identity() for entry in plan.entries}
        items: list[Item] = []
        for callback in extra:
            spec = classify(callback, None, False)
            _, key, _, owner, _ = spec
            identity = owner if type(callback) is types.MethodType else callback if key[0] == CALLABLE else None  # type: ignore[index]
            if key in seen and seen[key] is identity:
                continue
            seen[key] = identity
            item = transient_item(spec, hook, self._integrations.resolve)
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
    if issubclass(type(callback), (str, CustomLogger)):
        return False
    try:
        return inspect.iscoroutinefunction(callback)
    except Exception:  # a hostile __getattr__ or __class__: not a coroutine function; add() decides the rest
        return False


#: The process-wide registry.
default_registry = CallbackRegistry(name="default")
