"""The registry against a plain reference model, over random sequences of operations.

The model knows which objects are alive: an object dies when the test drops
it and nothing holds it strongly (an acyclic one at once, one in a reference
cycle at the next ``gc.collect()``), and its death removes every entry it owns
or is the weak target of. Automatic garbage collection is off during a run so
that deaths happen exactly where the model expects them; the weak references
the model keeps check that expectation too.
"""

from __future__ import annotations

import gc
import weakref
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from lifecycle import CallbackRegistry, Catalog, CustomLogger, Hook

HOOKS = list(Hook)
SYNC = [Hook.INPUT, Hook.SUCCESS, Hook.FAILURE, Hook.SERVICE]
LIMIT = 4


class Node:
    def __init__(self, cyclic: bool) -> None:
        self.hits = 0
        if cyclic:
            self.me = self

    def on_a(self, *args: Any) -> None:
        self.hits += 1

    def on_b(self, *args: Any) -> None:
        self.hits += 1


class Recorder(CustomLogger):
    def __init__(self, tag: str = "named") -> None:
        self.tag = tag


def f1(*args: Any) -> None:
    pass


def f2(*args: Any) -> None:
    pass


@dataclass
class ModelEntry:
    hook: Hook
    key: tuple[Any, ...]
    expected: Any  # what callbacks() returns: a value, or a name in the object pool
    owner: str | None = None  # its death removes the entry
    target: str | None = None  # weakly held callable: its death removes the entry
    holds: str | None = None  # object the entry keeps alive
    method: str | None = None
    type_: type | None = None


class RegistryMachine(RuleBasedStateMachine):
    @initialize()
    def setup(self) -> None:
        gc.collect()
        gc.disable()
        catalog = Catalog()
        catalog.register("alpha", Recorder)
        catalog.register("beta", Recorder)
        self.registry = CallbackRegistry(max_callbacks=LIMIT, catalog=catalog)
        self.entries: list[ModelEntry] = []
        self.pool: dict[str, Any] = {}  # objects the test itself holds
        self.refs: dict[str, weakref.ref[Any]] = {}
        self.cyclic: set[str] = set()
        self.dead: set[str] = set()
        self.serial = 0
        self.counts = {"added": 0, "duplicates": 0, "refused": 0, "removed": 0, "collected": 0}

    def teardown(self) -> None:
        gc.enable()

    # -- model helpers ------------------------------------------------------------------

    def _new(self, obj: Any, cyclic: bool = False) -> str:
        self.serial += 1
        name = f"o{self.serial}"
        self.pool[name] = obj
        self.refs[name] = weakref.ref(obj)
        if cyclic:
            self.cyclic.add(name)
        return name

    def _held(self, name: str) -> bool:
        return name in self.pool or any(e.holds == name for e in self.entries)

    def _settle(self, collected: bool = False) -> None:
        """Kill every object nothing holds any more (cyclic ones only on a collection)."""
        changed = True
        while changed:
            changed = False
            for name in list(self.refs):
                if name in self.dead or self._held(name):
                    continue
                if name in self.cyclic and not collected:
                    continue
                self.dead.add(name)
                doomed = [e for e in self.entries if name in (e.owner, e.target)]
                for entry in doomed:
                    self.entries.remove(entry)
                self.counts["collected"] += len(doomed)
                changed = True

    def _remove(self, doomed: list[ModelEntry]) -> int:
        for entry in doomed:
            self.entries.remove(entry)
        self.counts["removed"] += len(doomed)
        self._settle()
        return len(doomed)

    def _alive(self, names: list[str]) -> list[str]:
        return [n for n in names if n not in self.dead]

    def _add(self, entry: ModelEntry, callback: Any, **kwargs: Any) -> None:
        in_hook = [e for e in self.entries if e.hook is entry.hook]
        if any(e.key == entry.key for e in in_hook):
            expected, counter = False, "duplicates"
        elif len(in_hook) >= LIMIT:
            expected, counter = False, "refused"
        else:
            expected, counter = True, "added"
            self.entries.append(entry)
        self.counts[counter] += 1
        assert self.registry.add(entry.hook, callback, **kwargs) is expected

    # -- rules --------------------------------------------------------------------------

    @rule(cyclic=st.booleans())
    def new_node(self, cyclic: bool) -> None:
        self._new(Node(cyclic), cyclic)

    @rule()
    def new_function(self) -> None:
        def weak_target(*args: Any) -> None:
            pass

        self._new(weak_target)

    @precondition(lambda self: any(isinstance(o, Node) for o in self.pool.values()))
    @rule(data=st.data(), hook=st.sampled_from(HOOKS), method=st.sampled_from(["on_a", "on_b"]), strong=st.booleans())
    def add_method(self, data: st.DataObject, hook: Hook, method: str, strong: bool) -> None:
        name = data.draw(st.sampled_from(sorted(n for n, o in self.pool.items() if isinstance(o, Node))))
        entry = ModelEntry(hook, ("m", name, method), name, owner=name, method=method, type_=Node)
        if strong:
            entry.holds = name
        self._add(entry, getattr(self.pool[name], method), weak=False if strong else None)

    @rule(hook=st.sampled_from(HOOKS), value=st.sampled_from(["alpha", "beta"]), data=st.data())
    def add_name(self, hook: Hook, value: str, data: st.DataObject) -> None:
        owner = data.draw(st.sampled_from([None, *sorted(n for n, o in self.pool.items() if isinstance(o, Node))]))
        entry = ModelEntry(hook, ("s", value), value, owner=owner, type_=Recorder)
        self._add(entry, value, owner=None if owner is None else self.pool[owner])

    @rule(hook=st.sampled_from(HOOKS), tag=st.sampled_from(["x", "y"]))
    def add_logger(self, hook: Hook, tag: str) -> None:
        logger = Recorder(tag)
        entry = ModelEntry(hook, ("l", tag), None, type_=Recorder)
        entry.expected = logger
        before = len(self.entries)
        self._add(entry, logger)
        if len(self.entries) == before:
            return
        entry.expected = self.registry.callbacks(hook)[-1]
        assert entry.expected is logger

    @rule(hook=st.sampled_from(HOOKS), func=st.sampled_from([f1, f2]), data=st.data())
    def add_function(self, hook: Hook, func: Any, data: st.DataObject) -> None:
        owner = data.draw(st.sampled_from([None, *sorted(n for n, o in self.pool.items() if isinstance(o, Node))]))
        entry = ModelEntry(hook, ("f", func.__name__), func, owner=owner)
        self._add(entry, func, owner=None if owner is None else self.pool[owner])

    @precondition(lambda self: any(not isinstance(o, Node) for o in self.pool.values()))
    @rule(hook=st.sampled_from(HOOKS), data=st.data(), weak=st.booleans())
    def add_pool_function(self, hook: Hook, data: st.DataObject, weak: bool) -> None:
        name = data.draw(st.sampled_from(sorted(n for n, o in self.pool.items() if not isinstance(o, Node))))
        entry = ModelEntry(hook, ("p", name), name)
        if weak:
            entry.target = name
        else:
            entry.holds = name
        self._add(entry, self.pool[name], weak=weak or None)

    @rule(data=st.data(), hook=st.sampled_from([None, *HOOKS]))
    def remove(self, data: st.DataObject, hook: Hook | None) -> None:
        if not self.entries:
            return
        target = data.draw(st.sampled_from(self.entries))
        doomed = [e for e in self.entries if e.key == target.key and (hook is None or e.hook is hook)]
        callback = self._callback_of(target)
        assert self.registry.remove(callback, hook) == self._remove(doomed)

    @precondition(lambda self: any(isinstance(o, Node) for o in self.pool.values()))
    @rule(data=st.data())
    def remove_owner(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(n for n, o in self.pool.items() if isinstance(o, Node))))
        doomed = [e for e in self.entries if e.owner == name]
        assert self.registry.remove_owner(self.pool[name]) == self._remove(doomed)

    @rule(cls=st.sampled_from([Node, Recorder]), hook=st.sampled_from([None, *HOOKS]))
    def remove_by_type(self, cls: type, hook: Hook | None) -> None:
        doomed = [
            e
            for e in self.entries
            if (hook is None or e.hook is hook) and (e.type_ is cls or (e.owner is not None and cls is Node))
        ]
        assert self.registry.remove_by_type(cls, hook) == self._remove(doomed)

    @rule(hook=st.sampled_from([None, *HOOKS]))
    def clear(self, hook: Hook | None) -> None:
        doomed = [e for e in self.entries if hook is None or e.hook is hook]
        assert self.registry.clear(hook) == self._remove(doomed)

    @precondition(lambda self: bool(self.pool))
    @rule(data=st.data())
    def drop(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.pool)))
        del self.pool[name]
        self._settle()

    @rule()
    def collect(self) -> None:
        gc.collect()
        self._settle(collected=True)

    @rule(hook=st.sampled_from(SYNC))
    def dispatch(self, hook: Hook) -> None:
        hooks = {hook, Hook.CALLBACKS} if hook in (Hook.SUCCESS, Hook.FAILURE) else {hook}
        expected = sum(1 for e in self.entries if e.hook in hooks)
        assert self.registry.dispatch(hook, 1) == expected

    # -- checks -------------------------------------------------------------------------

    def _callback_of(self, entry: ModelEntry) -> Any:
        if entry.method is not None:
            return getattr(self.refs[entry.expected](), entry.method)
        if isinstance(entry.expected, str) and entry.expected in self.refs:
            return self.refs[entry.expected]()
        return entry.expected

    @invariant()
    def agrees_with_the_model(self) -> None:
        if not hasattr(self, "registry"):
            return
        for name, ref in self.refs.items():
            assert (ref() is None) == (name in self.dead), f"{name}: the model's idea of its life is wrong"
        for hook in HOOKS:
            expected = [self._callback_of(e) for e in self.entries if e.hook is hook]
            actual = self.registry.callbacks(hook)
            assert len(actual) == len(expected)
            for got, want in zip(actual, expected, strict=True):
                assert got == want if hasattr(want, "__self__") else got is want or got == want
            assert self.registry.count(hook) == len(expected)
            del expected, actual
        assert len(self.registry) == len(self.entries)
        stats = self.registry.stats()
        assert {h.value: n for h, n in ((h, sum(e.hook is h for e in self.entries)) for h in HOOKS)} == dict(
            stats.per_hook
        )
        owners = {e.owner for e in self.entries if e.owner is not None}
        assert stats.owners == len(owners)
        for counter, value in self.counts.items():
            assert getattr(stats, counter) == value, counter


RegistryMachine.TestCase.settings = settings(
    max_examples=100, stateful_step_count=40, deadline=None, suppress_health_check=list(HealthCheck)
)
TestRegistryAgainstModel = RegistryMachine.TestCase
