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
import types
import weakref
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, Phase, settings
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
    function: str | None = None  # a weak method of a pool function: what its owner is bound to


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

    def _model_add(self, entry: ModelEntry) -> bool:
        """What ``add`` does to the model; whether the entry was added."""
        in_hook = [e for e in self.entries if e.hook is entry.hook]
        if any(e.key == entry.key for e in in_hook):
            expected, counter = False, "duplicates"
        elif len(in_hook) >= LIMIT:
            expected, counter = False, "refused"
        else:
            expected, counter = True, "added"
            self.entries.append(entry)
        self.counts[counter] += 1
        return expected

    def _add(self, entry: ModelEntry, callback: Any, **kwargs: Any) -> None:
        expected = self._model_add(entry)
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
            if (hook is None or e.hook is hook) and (e.type_ is cls or (e.owner in self.refs and cls is Node))
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
        if entry.function is not None:
            assert entry.owner is not None
            return types.MethodType(self.refs[entry.function](), self.refs[entry.owner]())
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


# -- re-entry and function deaths (issue 8) ---------------------------------------------
#
# A *bomb* is a strong callback whose ``__del__`` calls the registry (add,
# remove, remove_owner or clear). The registry drops it in the middle of a
# change (``clear``, ``remove``, ``remove_by_type``, ``remove_owner``, the
# teardown of its dying owner), so its call is a re-entry: it must not block,
# and its change must take effect by the time the interrupted call returns
# (a queued ``add`` answers ``True``, a queued removal ``0``). The model
# applies a bomb's change right after the operation that killed it. At most
# one bomb is armed at a time and nothing else is held strongly by an entry,
# so the order of deaths within one operation never matters. Its actions
# touch only permanent objects (``f3`` and ``KEEPER``), never the pool.
#
# Weak methods bound to pool functions (``types.MethodType(function, node)``)
# die with their owner or their function. A function a dispatch has seen may
# be kept by the current plan until its hook changes, so the machine drops
# a function only when no current plan (as far as the model knows) was built with it.


class Keeper:
    """A permanent owner (never a ``Node``): bombs add and remove its method."""

    def on_a(self, *args: Any) -> None:
        pass


KEEPER = Keeper()


def f3(*args: Any) -> None:
    pass


class BombLog:
    def __init__(self) -> None:
        self.armed = True
        self.fired: list[tuple[str, Any]] = []


Action = tuple[str, "Hook | None", str]  # (kind, hook, which: "f3" or "keeper")


def bomb_callback(which: str) -> Any:
    return f3 if which == "f3" else KEEPER.on_a


class Bomb:
    def __init__(self, registry: CallbackRegistry, log: BombLog, action: Action) -> None:
        self.registry_ref = weakref.ref(registry)
        self.log_ref = weakref.ref(log)
        self.action = action
        self.name = ""

    def __call__(self, *args: Any) -> None:
        pass

    def __del__(self) -> None:
        log, registry = self.log_ref(), self.registry_ref()
        if log is None or registry is None or not log.armed:
            return
        kind, hook, which = self.action
        result: Any
        if kind == "add":
            assert hook is not None
            result = registry.add(hook, bomb_callback(which))
        elif kind == "remove":
            result = registry.remove(bomb_callback(which), hook)
        elif kind == "remove_owner":
            result = registry.remove_owner(KEEPER)
        else:
            result = registry.clear(hook)
        log.fired.append((self.name, result))


ACTIONS: list[Action] = [
    *(("add", hook, which) for hook in HOOKS for which in ("f3", "keeper")),
    *(("remove", hook, which) for hook in (None, Hook.SUCCESS, Hook.CALLBACKS) for which in ("f3", "keeper")),
    ("remove_owner", None, "keeper"),
    *(("clear", hook, "") for hook in (None, Hook.SUCCESS, Hook.SERVICE, Hook.CALLBACKS)),
]


#: Over a whole run: bombs fired, and how many answered as queued; weak methods registered, and
#: weak-method entries ended by their function's death. The test asserts they happened, so it cannot pass vacuously.
REENTRANT_TALLY = {"bombs": 0, "queued": 0, "weak_methods": 0, "function_deaths": 0}


class ReentrantRegistryMachine(RegistryMachine):
    @initialize(data=st.data())
    def setup(self, data: st.DataObject) -> None:  # type: ignore[override]
        """Every example starts with a weak method of a pool function and an armed bomb."""
        super().setup()
        self.log = BombLog()
        self.bombs: dict[str, Action] = {}  # armed bombs, by pool name
        self.to_fire: list[str] = []  # bombs the model killed, whose change is still to apply
        # what each hook's current plan may hold: the weak targets it was built with, until the hook changes
        self.plan_holds: dict[Hook, set[str]] = {}
        self.fired_count = 0
        self.new_node(cyclic=False)
        self.new_function()
        self.add_weak_method(data, data.draw(st.sampled_from(HOOKS)))
        self.arm_bomb(data.draw(st.sampled_from(HOOKS)), data.draw(st.sampled_from(ACTIONS)), data)

    def teardown(self) -> None:
        if hasattr(self, "log"):
            self.log.armed = False
        super().teardown()

    # no strong holds: only a bomb dies when an entry goes, so no order of deaths matters

    @precondition(lambda self: any(isinstance(o, Node) for o in self.pool.values()))
    @rule(data=st.data(), hook=st.sampled_from(HOOKS), method=st.sampled_from(["on_a", "on_b"]))
    def add_method(self, data: st.DataObject, hook: Hook, method: str) -> None:  # type: ignore[override]
        super().add_method(data, hook, method, strong=False)

    @precondition(lambda self: any(not isinstance(o, (Node, Bomb)) for o in self.pool.values()))
    @rule(hook=st.sampled_from(HOOKS), data=st.data())
    def add_pool_function(self, hook: Hook, data: st.DataObject) -> None:  # type: ignore[override]
        super().add_pool_function(hook, data, weak=True)

    @precondition(
        lambda self: (
            any(isinstance(o, Node) for o in self.pool.values())
            and any(not isinstance(o, Node) for o in self.pool.values())
        )
    )
    @rule(data=st.data(), hook=st.sampled_from(HOOKS))
    def add_weak_method(self, data: st.DataObject, hook: Hook) -> None:
        node = data.draw(st.sampled_from(sorted(n for n, o in self.pool.items() if isinstance(o, Node))))
        function = data.draw(st.sampled_from(sorted(n for n, o in self.pool.items() if not isinstance(o, Node))))
        entry = ModelEntry(hook, ("wm", node, function), None, owner=node, target=function, type_=Node)
        entry.function = function
        self._add(entry, types.MethodType(self.pool[function], self.pool[node]))
        REENTRANT_TALLY["weak_methods"] += 1

    @precondition(lambda self: not self.bombs)
    @rule(hook=st.sampled_from(HOOKS), action=st.sampled_from(ACTIONS), data=st.data())
    def arm_bomb(self, hook: Hook, action: Action, data: st.DataObject) -> None:
        acyclic = sorted(n for n, o in self.pool.items() if isinstance(o, Node) and n not in self.cyclic)
        owner = data.draw(st.sampled_from([None, *acyclic]))
        bomb = Bomb(self.registry, self.log, action)
        name = bomb.name = self._new(bomb)
        self.bombs[name] = action
        entry = ModelEntry(hook, ("b", name), name, owner=owner, holds=name, type_=Bomb)
        self._add(entry, bomb, owner=None if owner is None else self.pool[owner])
        del bomb, self.pool[name]  # from now on only the registry holds it (a refused bomb dies here)
        self._settle()

    @precondition(lambda self: bool(self.bombs))
    @rule(how=st.sampled_from(["remove", "clear_hook", "clear", "owner"]))
    def detonate(self, how: str) -> None:
        """Remove the armed bomb's entry in the middle of a change (its owner's teardown, a clear, ...)."""
        [name] = self.bombs
        [entry] = [e for e in self.entries if e.key == ("b", name)]
        if how == "owner" and entry.owner is not None:
            doomed = [e for e in self.entries if e.owner == entry.owner]
            assert self.registry.remove_owner(self.pool[entry.owner]) == self._remove(doomed)
        elif how == "remove":
            callback = self._callback_of(entry)
            assert self.registry.remove(callback) == 1
            del callback
            self._remove([entry])
        else:
            hook = entry.hook if how == "clear_hook" else None
            doomed = [e for e in self.entries if hook is None or e.hook is hook]
            assert self.registry.clear(hook) == self._remove(doomed)

    def _bound_functions(self) -> list[str]:
        """Pool functions some weak method is bound to, that no dispatch has seen."""
        bound = {e.function for e in self.entries if e.function is not None}
        return sorted(n for n in bound if n in self.pool and n not in self._planned())

    @precondition(lambda self: bool(self._bound_functions()))
    @rule(data=st.data())
    def drop_bound_function(self, data: st.DataObject) -> None:
        """A weak method's function dies while its owner lives: the entry goes, as ``collected``."""
        name = data.draw(st.sampled_from(self._bound_functions()))
        del self.pool[name]
        self._settle()

    @precondition(lambda self: any(n not in self._planned() for n in self.pool))
    @rule(data=st.data())
    def drop(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(n for n in self.pool if n not in self._planned())))
        del self.pool[name]
        self._settle()

    @rule(hook=st.sampled_from(SYNC))
    def dispatch(self, hook: Hook) -> None:
        super().dispatch(hook)
        hooks = {hook, Hook.CALLBACKS} if hook in (Hook.SUCCESS, Hook.FAILURE) else {hook}
        self.plan_holds[hook] = {e.target for e in self.entries if e.hook in hooks and e.target is not None}

    # -- which plans are current: a change of a hook drops its plan (CALLBACKS: SUCCESS's and FAILURE's too)

    def _planned(self) -> set[str]:
        return set().union(*self.plan_holds.values())

    def _changed(self, hooks: set[Hook]) -> None:
        if Hook.CALLBACKS in hooks:
            hooks = hooks | {Hook.SUCCESS, Hook.FAILURE}
        for hook in hooks:
            self.plan_holds.pop(hook, None)

    def _model_add(self, entry: ModelEntry) -> bool:
        added = super()._model_add(entry)
        if added:
            self._changed({entry.hook})
        return added

    # -- the model of re-entrant changes ----------------------------------------------------

    def _remove(self, doomed: list[ModelEntry]) -> int:
        self._changed({e.hook for e in doomed})
        return super()._remove(doomed)

    def _settle(self, collected: bool = False) -> None:
        before = set(self.dead)
        functions = {e.function: e for e in self.entries if e.function is not None}
        present = list(self.entries)
        super()._settle(collected)
        self._changed({e.hook for e in present if e not in self.entries})
        died = self.dead - before
        if died:
            len(self.registry)  # deaths are applied at the registry's next call: this one
        self.to_fire.extend(sorted(n for n in died if n in self.bombs))
        REENTRANT_TALLY["function_deaths"] += sum(1 for n in died if n in functions)

    def _apply(self, action: Action) -> Any:
        """A bomb's change, applied to the model after the operation that killed it; its return value."""
        kind, hook, which = action
        if kind == "add":
            assert hook is not None
            if which == "f3":
                entry = ModelEntry(hook, ("f", "f3"), f3)
            else:
                entry = ModelEntry(hook, ("k", "on_a"), KEEPER.on_a, owner="KEEPER", type_=Keeper)
            return self._model_add(entry)
        if kind == "remove":
            key = ("f", "f3") if which == "f3" else ("k", "on_a")
            doomed = [e for e in self.entries if e.key == key and (hook is None or e.hook is hook)]
        elif kind == "remove_owner":
            doomed = [e for e in self.entries if e.owner == "KEEPER"]
        else:
            doomed = [e for e in self.entries if hook is None or e.hook is hook]
        return self._remove(doomed)

    def _apply_fired(self) -> None:
        while self.to_fire:
            name = self.to_fire.pop(0)
            action = self.bombs.pop(name)
            results = [result for fired, result in self.log.fired if fired == name]
            assert len(results) == 1, f"bomb {name} ({action}) died in the model; its __del__ ran {len(results)} times"
            expected = self._apply(action)
            queued = True if action[0] == "add" else 0
            result = results[0]
            assert any(result == value and type(result) is type(value) for value in (queued, expected)), (
                f"bomb {name} ({action}) got {result!r}; expected {expected!r}, or {queued!r} when queued"
            )
            self.fired_count += 1
            REENTRANT_TALLY["bombs"] += 1
            REENTRANT_TALLY["queued"] += result is queued and result != expected
        assert len(self.log.fired) == self.fired_count, (
            f"bombs whose __del__ ran: {[n for n, _ in self.log.fired]}; the model expected {self.fired_count}"
        )

    @invariant()
    def agrees_with_the_model(self) -> None:
        if not hasattr(self, "log"):
            return
        self._apply_fired()
        super().agrees_with_the_model()
        self.registry._check_invariants()  # type: ignore[attr-defined]


REENTRANT_SETTINGS = settings(
    max_examples=50,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
    derandomize=True,  # the same examples every run: the tally below is then a fixed number
    # no shrinking: it can outlast the child's timeout, and an unshrunk failure still shows each step
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)


def run_reentrant_machine() -> None:
    """Run in a child interpreter: on a registry that blocks on its own thread, a bomb hangs it."""
    from hypothesis.stateful import run_state_machine_as_test

    gc.collect()
    gc.freeze()  # the machine collects after most steps: leave the imported modules out of it
    run_state_machine_as_test(ReentrantRegistryMachine, settings=REENTRANT_SETTINGS)
    tally = REENTRANT_TALLY
    assert tally["bombs"] >= 10 and tally["weak_methods"] >= 30 and tally["function_deaths"] >= 5, tally
    print(f"reentrant machine: passed {tally}")


def test_reentrant_changes_and_function_deaths_against_the_model() -> None:
    from tests.child_process import run_child

    out = run_child("from tests.test_stateful import run_reentrant_machine; run_reentrant_machine()", hang_after=120)
    assert "reentrant machine: passed" in out, out
