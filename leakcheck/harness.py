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
from leakcheck.report import Example, LeakReport, Measure, Survivors
from leakcheck.sampling import Sampler, full_collection, type_name

Progress = Callable[[int, int], None]


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
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
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
    counted; ``registries``: objects whose ``len()`` is read. The heap that
    exists before the check is frozen (``gc.freeze()``) while it runs, so the
    cost per cycle does not grow with the rest of the heap; it is unfrozen
    before the explanation and before returning.
    """
    watch = tuple(watch)
    registries = tuple(registries)
    validate(build, teardown, exercise, cycles=cycles, warmup=warmup, rounds=rounds, watch=watch)
    per_round = cycles // rounds
    started = time.perf_counter()
    run = _Run(build, teardown, exercise, progress, warmup + per_round * rounds)
    sampler = Sampler(watch, registries, 2 * rounds)
    started_tracing = not tracemalloc.is_tracing()
    if started_tracing:
        tracemalloc.start(8)
    full_collection()
    gc.freeze()
    try:
        for _ in range(warmup):
            run.cycle()
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
        names = [
            ("built objects alive", "objects"),
            *((f"live {type_name(kind)}", "objects") for kind in watch),
            *((f"len({getattr(r, 'name', None) or type(r).__name__})", "entries") for r in registries),
            ("gc-tracked objects", "objects"),
            ("traced memory", "bytes"),
        ]
        measures = tuple(
            Measure(name, unit, values, grows_every_round(values))
            for (name, unit), values in zip(names, sampler.values(measured + 1), strict=True)
        )
        leaked = any(measure.leaked for measure in measures)
        groups = _survivor_groups(run, sampler, leaked, measures[0].leaked, max_examples) if explain else []
        sites = tuple(sampler.memory_growth_by_site()) if explain and leaked else ()
    finally:
        gc.unfreeze()
    try:
        survivors, graphs = _explain(groups, graph_dir, {"build": build, "teardown": teardown, "exercise": exercise})
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
        graphs=tuple(graphs),
        seconds=time.perf_counter() - started,
        untracked=tuple(sorted(run.untracked)),
    )


_Group = tuple[str, int, bool, str, list[Any]]


def _survivor_groups(run: _Run, sampler: Sampler, leaked: bool, objects_leaked: bool, limit: int) -> list[_Group]:
    """What to explain: built objects still alive, and (on a leak) types that grew every round.

    Collected while the old heap is still frozen, so the scan sees only new objects.
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
        if wanted:
            for obj in gc.get_objects():
                name = type_name(type(obj))
                if name in examples:
                    examples[name].append(obj)
        for name in sorted(wanted, key=lambda n: -growth[n]):
            groups.append((name, growth[name], True, "instances gained since baseline", examples[name][-limit:]))
    return groups


def _explain(
    groups: list[_Group], graph_dir: str | None, named_roots: dict[str, object]
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
            examples.append(Example(render(chain, index.root_names) if chain else None, allocation_site(obj)))
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
