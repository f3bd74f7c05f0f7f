"""Build/teardown cycles, a decision that does not cry wolf, and the explanation.

One cycle: ``obj = build()``, ``exercise(obj)``, ``teardown(obj)``, drop every
reference the harness holds, collect until nothing more is found. Warm-up
cycles fill caches and are not judged. The measured cycles run in rounds; a
measure leaks when it grows in *every* round (the rule CPython's reference
leak hunter settled on after its false alarms), so a warm-up, a sawtooth or a
bounded cache is never called a leak, while a slow steady leak is.

A measure that grew in every round is a suspicion, not yet a verdict: the
check then runs as many rounds again, and the verdict needs growth in all of
them. Growth that reaches a plateau a little later than the warm-up (a dict
whose table settles, a cache filling to its bound) stops during those
rounds; a leak goes on. Clean runs pay nothing for this.
"""

from __future__ import annotations

import gc
import itertools
import time
import tracemalloc
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from leakcheck.explain import ReferenceIndex, allocation_site, render
from leakcheck.graphs import write_graph
from leakcheck.probes import default_probes, recording_thread_starts
from leakcheck.report import Detail, Example, LeakReport, Measure, Survivors
from leakcheck.sampling import Sampler, SiteGrowth, full_collection, type_name
from lifecycle._checks import int_at_least

Progress = Callable[[int, int], None]


class NestedCheckError(RuntimeError):
    """Raised by ``check`` inside another check: the inner one would unfreeze the outer one's heap."""


_running: list[bool] = []  # non-empty while a check runs


class LeakError(AssertionError):
    """Raised by ``assert_no_leaks``; its message is the report."""

    def __init__(self, report: LeakReport) -> None:
        super().__init__(str(report))
        self.report = report


def grows_every_round(values: Sequence[int]) -> bool:
    """The decision: strictly more after every measured round than after the one before."""
    return len(values) > 2 and all(after > before for before, after in itertools.pairwise(values))


def validate(
    build: object,
    teardown: object = None,
    exercise: object = None,
    *,
    cycles: int = 25,
    warmup: int = 3,
    rounds: int = 5,
    watch: Sequence[object] = (),
) -> None:
    """Check ``check``'s arguments; ``TypeError``/``ValueError`` saying what is wrong."""
    for name, value in (("build", build), ("teardown", teardown), ("exercise", exercise)):
        if value is not None and not callable(value):
            raise TypeError(f"{name} must be callable, got {type(value).__name__}")
    if build is None:
        raise TypeError("build must be callable, got None")
    for name, value, low in (("cycles", cycles, 2), ("warmup", warmup, 0), ("rounds", rounds, 2)):
        int_at_least(value, name, low)
    if cycles < rounds:
        raise ValueError(f"cycles ({cycles}) must be at least rounds ({rounds}): each round runs whole cycles")
    for kind in watch:
        if not isinstance(kind, type):
            raise TypeError(f"watch takes classes, got {kind!r}")


class _Run:
    """The state of one check; nothing here outlives it."""

    def __init__(
        self,
        build: Callable[[], Any],
        teardown: Callable[[Any], Any] | None,
        exercise: Callable[[Any], Any] | None,
        progress: Progress | None,
        total: int,
    ) -> None:
        self.build = build
        self.teardown = teardown
        self.exercise = exercise
        self.progress = progress
        self.total = total
        self.done = 0
        self.alive: list[weakref.ref[Any]] = []  # built objects that outlived their cycle
        #: Types of build results that could not be weakly referenced (None, int, list...).
        self.untracked: set[str] = set()

    def cycle(self) -> None:
        obj = self.build()
        if self.exercise is not None:
            self.exercise(obj)
        if self.teardown is not None:
            self.teardown(obj)
        try:
            ref: weakref.ref[Any] | None = weakref.ref(obj)
        except TypeError:
            ref = None  # not weakly referable: only the heap-wide measures see it, and the report says so
            self.untracked.add("None" if obj is None else type(obj).__qualname__)
        del obj
        full_collection()
        if ref is not None and ref() is not None:
            self.alive.append(ref)
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)

    def survivors(self) -> int:
        self.alive[:] = [ref for ref in self.alive if ref() is not None]
        return len(self.alive)

    def harness_objects(self) -> list[Any]:
        """What the harness itself holds, left out of the heap-wide counts."""
        return [self.alive, *self.alive]


def check(
    build: Callable[[], Any],
    *,
    teardown: Callable[[Any], Any] | None = None,
    exercise: Callable[[Any], Any] | None = None,
    cycles: int = 25,
    warmup: int = 3,
    rounds: int = 5,
    watch: Sequence[type] = (),
    registries: Iterable[Any] = (),
    graph_dir: str | None = None,
    explain: bool = True,
    max_examples: int = 3,
    progress: Progress | None = None,
) -> LeakReport:
    """Run build/teardown cycles and decide whether anything keeps growing.

    ``cycles`` measured cycles (rounded down to whole rounds) follow
    ``warmup`` unjudged ones; if a measure grew in every round, as many
    rounds again confirm or clear it. ``watch``: classes whose live instances are
    counted; ``registries``: objects whose ``len()`` is read. Every probe of
    ``leakcheck.probes`` (memory, file descriptors, threads, tasks, children,
    process-wide registries) is read each round too. The heap that exists
    before the check is frozen (``gc.freeze()``) while it runs, so the cost
    per cycle does not grow with the rest of the heap; it is unfrozen before
    the explanation and before returning. On a leak, the explanation runs
    a few more rounds under ``tracemalloc`` to find the allocation sites that
    grew in each of them; nothing is traced while the verdict is measured.
    """
    watch = tuple(watch)
    registries = tuple(registries)
    validate(build, teardown, exercise, cycles=cycles, warmup=warmup, rounds=rounds, watch=watch)
    if _running:
        raise NestedCheckError("leakcheck.check cannot run inside another check (each freezes and unfreezes the heap)")
    _running.append(True)
    try:
        return _check(build, teardown, exercise, cycles, warmup, rounds, watch, registries, graph_dir, explain,
                      max_examples, progress)  # fmt: skip
    finally:
        _running.clear()


def _check(
    build: Callable[[], Any],
    teardown: Callable[[Any], Any] | None,
    exercise: Callable[[Any], Any] | None,
    cycles: int,
    warmup: int,
    rounds: int,
    watch: tuple[type, ...],
    registries: tuple[Any, ...],
    graph_dir: str | None,
    explain: bool,
    max_examples: int,
    progress: Progress | None,
) -> LeakReport:
    per_round = cycles // rounds
    started = time.perf_counter()
    run = _Run(build, teardown, exercise, progress, warmup + per_round * rounds)
    probes = default_probes()
    sampler = Sampler(watch, registries, probes, 2 * rounds)
    started_tracing = False
    full_collection()
    gc.freeze()
    try:
        with recording_thread_starts():
            for _ in range(warmup):
                run.cycle()
            sampler.freeze_baseline()
            for index in range(rounds + 1):
                for _ in range(per_round if index else 0):
                    run.cycle()
                sampler.read(index, run.survivors, run.harness_objects)
            measured = rounds
            if any(grows_every_round(values) for values in sampler.values(rounds + 1)):
                run.total += per_round * rounds  # confirmation rounds
                for index in range(rounds + 1, 2 * rounds + 1):
                    for _ in range(per_round):
                        run.cycle()
                    sampler.read(index, run.survivors, run.harness_objects)
                measured = 2 * rounds
            measures = tuple(
                Measure(name, unit, values, grows_every_round(values))
                for (name, unit), values in zip(sampler.names(), sampler.values(measured + 1), strict=True)
            )
            leaked = any(measure.leaked for measure in measures)
            objects_leaked = any(m.leaked for m in measures[: len(measures) - len(probes) + 1])  # + memory blocks
            sites: tuple[tuple[str, int, int], ...] = ()
            explanation_cycles = 0
            if explain and objects_leaked:
                started_tracing = not tracemalloc.is_tracing()
                if started_tracing:
                    tracemalloc.start(1)
                explanation_cycles, sites = _traced_rounds(run, per_round, min(rounds, 3))
            owners = sampler.owners([m.leaked for m in measures[-len(probes) :]]) if explain and leaked else []
            groups = _survivor_groups(run, leaked, measures[0].leaked, max_examples, sampler, owners) if explain else []
            del owners
    finally:
        gc.unfreeze()
    details = sampler.details([m.leaked for m in measures[-len(probes) :]]) if explain and leaked else []
    details = _native_in_context(details, measures)
    try:
        hint = holder_hint(measures)
        survivors, graphs = _explain(
            groups, graph_dir, {"build": build, "teardown": teardown, "exercise": exercise}, hint
        )
    finally:
        if started_tracing:
            tracemalloc.stop()
    return LeakReport(
        leaked=leaked,
        cycles=per_round * measured,
        warmup=warmup,
        rounds=measured,
        confirmation_rounds=measured - rounds,
        measures=measures,
        survivors=survivors,
        memory_growth=sites,
        details=tuple(Detail(name, tuple(lines)) for name, lines in details if lines),
        explanation_cycles=explanation_cycles,
        graphs=tuple(graphs),
        seconds=time.perf_counter() - started,
        untracked=tuple(sorted(run.untracked)),
    )


def _traced_rounds(run: _Run, per_round: int, count: int) -> tuple[int, tuple[tuple[str, int, int], ...]]:
    """Run ``count`` more rounds under ``tracemalloc``: the cycles run, and the sites that grew in each round."""
    run.total += per_round * count
    growth = SiteGrowth()
    for _ in range(count):
        for _ in range(per_round):
            run.cycle()
        growth.round_done()
    return per_round * count, tuple(growth.top())


#: Probe measures that hold objects where the collector cannot see them, and what to say about each.
_HIDDEN_HOLDERS = {
    "atexit callbacks": "atexit (an atexit.register(obj.method) never unregistered)",
    "live threads": "a running thread (its target, arguments or frames)",
    "pending asyncio tasks": "a pending asyncio task (its coroutine, callbacks or the loop's handles)",
    "signal handlers": "the signal module (a handler set per cycle)",
    "native heap (glibc mallinfo2)": "a C extension (native memory grew alongside)",
}


def holder_hint(measures: Sequence[Measure]) -> str:
    """Where to look when no chain reaches a leaked object: what grew alongside it, and who likely holds it.

    Measures that leaked come first, then those that merely grew; among
    equals, the order of ``_HIDDEN_HOLDERS`` (the most specific holder first).
    """
    order = list(_HIDDEN_HOLDERS)
    grew = sorted(
        (m for m in measures if m.name in _HIDDEN_HOLDERS and (m.leaked or m.growth > 0)),
        key=lambda m: (not m.leaked, order.index(m.name)),
    )
    if not grew:
        return "nothing process-wide grew alongside: likely held by a C extension or the interpreter itself"
    alongside = ", ".join(f"{m.name} {m.growth:+d}" for m in grew)
    return f"{alongside} alongside: likely held by {_HIDDEN_HOLDERS[grew[0].name]}"


def _native_in_context(
    details: list[tuple[str, list[str]]], measures: Sequence[Measure]
) -> list[tuple[str, list[str]]]:
    """The native heap's explanation, told apart: alone it is C code's; beside other leaks, likely theirs."""
    others = [m.name for m in measures if m.leaked and not m.name.startswith("native heap")]
    if not others:
        return details
    text = f"grew alongside {', '.join(others)}: likely their native part (locks, thread states, buffers)"
    return [(name, [text] if name.startswith("native heap") else lines) for name, lines in details]


_Group = tuple[str, int, bool, str, list[Any]]


def _survivor_groups(
    run: _Run, leaked: bool, objects_leaked: bool, limit: int, sampler: Sampler, owners: list[object]
) -> list[_Group]:
    """What to explain: built objects still alive, and (on a leak) types that grew every round.

    Collected while the old heap is still frozen, so the scan sees only new
    objects. A type is left out when all its new instances are parts of the
    surviving built objects or of ``owners`` (the new threads and tasks a
    probe found), or hold one of them directly: those are told already.
    """
    groups: list[_Group] = []
    by_type: dict[str, list[Any]] = {}
    for ref in run.alive:
        obj = ref()
        if obj is not None:
            by_type.setdefault(type_name(type(obj)), []).append(obj)
    for name, objects in by_type.items():
        groups.append((name, len(objects), objects_leaked, "built objects alive", objects[-limit:]))
    if leaked:
        growth = sampler.growth_by_type()
        wanted = {name for name, _ in sorted(growth.items(), key=lambda item: -item[1])[:5]} - set(by_type)
        examples: dict[str, list[Any]] = {name: [] for name in wanted}
        new_objects = gc.get_objects()  # the old heap is frozen: only objects created since the baseline
        ours = {id(groups), id(by_type), *map(id, by_type.values()), id(examples), *map(id, examples.values())}
        ours.update((id(owners), id(ours), id(run.alive), *map(id, run.alive)))
        for obj in new_objects:
            name = type_name(type(obj))
            if name in examples and id(obj) not in ours:
                examples[name].append(obj)
        explained = _explained_by([*by_type.values(), owners], {id(obj) for obj in new_objects})
        del new_objects
        for name in sorted(wanted, key=lambda n: -growth[n]):
            # Parts of the leaked built objects, threads or tasks, or what holds them, are told already.
            untold = [obj for obj in examples[name] if not explained(obj)]
            if owners:  # new threads or tasks leaked: their internals need no chain each
                groups.append((name, growth[name], True, "instances gained with the new threads or tasks", []))
            elif untold or not examples[name]:
                groups.append((name, growth[name], True, "instances gained since baseline", untold[-limit:]))
    return groups


def _explained_by(built: Iterable[list[Any]], new: set[int]) -> Callable[[object], bool]:
    """A test: is an object part of a surviving built object (or owner), or a direct holder of one or its parts?

    Parts are searched among ``new`` objects only (those created since the
    baseline), so the walk never strays into classes and modules.
    """
    owners = {id(obj) for objects in built for obj in objects}
    owned: set[int] = set()
    seen = set(owners)
    frontier = [obj for objects in built for obj in objects]
    while frontier:
        frontier = [obj for obj in gc.get_referents(*frontier) if id(obj) in new and id(obj) not in seen]
        owned.update(id(obj) for obj in frontier)
        seen.update(id(obj) for obj in frontier)
    return lambda obj: id(obj) in owned or any(id(c) in owners or id(c) in owned for c in gc.get_referents(obj))


def _explain(
    groups: list[_Group], graph_dir: str | None, named_roots: dict[str, object], hint: str
) -> tuple[tuple[Survivors, ...], list[str]]:
    if not groups:
        return (), []
    ignore: list[object] = [groups, *(group[4] for group in groups)]
    index = ReferenceIndex(ignore=ignore, named_roots={k: v for k, v in named_roots.items() if v is not None})
    survivors = []
    graphs: list[str] = []
    for name, count, leaked, what, objects in groups:
        examples = []
        for obj in objects:
            chain = index.chain_to(obj)
            if chain:
                examples.append(Example(render(chain, index.root_names), allocation_site(obj)))
            else:
                examples.append(Example(None, allocation_site(obj), hint))
        survivors.append(Survivors(name, count, leaked, what, tuple(examples)))
        if graph_dir is not None and leaked and objects:
            graphs.extend(write_graph(objects, graph_dir, name, ignore=[groups, objects]))
    return tuple(survivors), graphs


def assert_no_leaks(build: Callable[[], Any], **options: Any) -> LeakReport:
    """``check(build, **options)``; raises ``LeakError`` (an ``AssertionError``) on a leak."""
    report = check(build, **options)
    if report.leaked:
        raise LeakError(report)
    return report
