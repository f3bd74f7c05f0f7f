"""What one measurement round reads, without disturbing what it measures.

Each round, after a full collection, reads the traced memory first, then,
in one pass over the objects the collector tracks, the gc-tracked count, the
live instances of each watched type and a histogram of every type. The
harness freezes the heap that existed before the check (``gc.freeze()``), so
that pass only sees objects created since: its cost does not grow with the
rest of the heap.

The harness must never look like a leak of its own: memory is read from a
``tracemalloc`` snapshot that leaves out every block allocated in this
package's files (and in ``tracemalloc`` itself), and the values are stored in
preallocated arrays, which are neither gc-tracked nor grown.
"""

from __future__ import annotations

import array
import collections
import gc
import tracemalloc
from collections.abc import Callable, Sequence
from typing import Any

_OWN_FILES = (__file__.rsplit("/", 1)[0] + "/*", tracemalloc.__file__)
_NOT_OURS = [tracemalloc.Filter(False, pattern) for pattern in _OWN_FILES]


def full_collection(limit: int = 5) -> None:
    """Collect until a pass finds nothing (``__del__`` and weakref callbacks may free more)."""
    for _ in range(limit):
        if gc.collect() == 0:
            return


def type_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def traced_memory() -> tuple[int, tracemalloc.Snapshot]:
    """Bytes traced outside this package, and the snapshot they were summed from."""
    snapshot = tracemalloc.take_snapshot().filter_traces(_NOT_OURS)
    return sum(stat.size for stat in snapshot.statistics("filename")), snapshot


class Sampler:
    """The per-round measures; one column (an ``array``) per measure, one slot per round."""

    def __init__(self, watch: Sequence[type], registries: Sequence[Any], rounds: int) -> None:
        self.watch = tuple(watch)
        self.registries = tuple(registries)
        width = 3 + len(self.watch) + len(self.registries)  # survivors, watched..., registries..., tracked, memory
        self.columns = [array.array("q", bytes(8 * (rounds + 1))) for _ in range(width)]
        self.baseline_types: dict[str, int] = {}
        self.previous_types: dict[str, int] = {}
        #: Type names whose live count grew in every round so far (``None`` before the first).
        self.always_growing: set[str] | None = None
        self.baseline_snapshot: tracemalloc.Snapshot | None = None

    def read(self, index: int, survivors: Callable[[], int], harness_objects: Callable[[], list[Any]]) -> None:
        """Fill slot ``index`` of every column."""
        full_collection()
        memory, snapshot = traced_memory()
        if index == 0:
            self.baseline_snapshot = snapshot
        del snapshot
        ignored = {id(obj) for obj in harness_objects()}
        objects = [obj for obj in gc.get_objects() if id(obj) not in ignored]
        counts = collections.Counter(map(type, objects))
        tracked = len(objects)
        del objects
        values = [
            survivors(),
            *(sum(n for cls, n in counts.items() if issubclass(cls, kind)) for kind in self.watch),
            *(len(registry) for registry in self.registries),
            tracked,
            memory,
        ]
        for column, value in zip(self.columns, values, strict=True):
            column[index] = value
        self._histogram({type_name(cls): n for cls, n in counts.items()}, first=index == 0)

    def _histogram(self, histogram: dict[str, int], first: bool) -> None:
        if first:
            self.baseline_types = histogram
        else:
            grew = {name for name, n in histogram.items() if n > self.previous_types.get(name, 0)}
            self.always_growing = grew if self.always_growing is None else self.always_growing & grew
        self.previous_types = histogram

    def values(self, count: int) -> list[tuple[int, ...]]:
        """The first ``count`` readings of every column."""
        return [tuple(column[:count]) for column in self.columns]

    def growth_by_type(self) -> dict[str, int]:
        """Live count growth since the baseline, for the types that grew in every round."""
        return {
            name: self.previous_types.get(name, 0) - self.baseline_types.get(name, 0)
            for name in sorted(self.always_growing or ())
        }

    def memory_growth_by_site(self, limit: int = 3) -> list[tuple[str, int, int]]:
        """``(file:line, bytes, blocks)`` of the allocation sites that grew most since the baseline.

        This explains leaks of plain data that the collector does not track
        (strings, numbers, dicts of them), which no reference chain can reach.
        """
        if self.baseline_snapshot is None or not tracemalloc.is_tracing():
            return []
        _, now = traced_memory()
        grown = [stat for stat in now.compare_to(self.baseline_snapshot, "lineno") if stat.size_diff > 0]
        return [
            (f"{stat.traceback[0].filename}:{stat.traceback[0].lineno}", stat.size_diff, stat.count_diff)
            for stat in grown[:limit]
        ]
