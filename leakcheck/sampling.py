"""What one measurement round reads, without disturbing what it measures.

Each round, after a full collection, reads the totals first: the built
objects still alive, the length of each registry, then every probe (memory
blocks, native heap, file descriptors, threads, tasks, children,
process-wide registries), each a number read in constant time. Then, in one
pass over the objects the collector tracks, the gc-tracked count, the live
instances of each watched type and a histogram of every type. Nothing is
traced and no snapshot is taken: a reading costs the same whatever was
allocated since the check began. ``tracemalloc`` only runs for the explanation (``SiteGrowth``).

The harness must never look like a leak of its own:

- the heap that exists at the baseline reading, the harness's baseline state
  included, is frozen (``gc.freeze()``), so the object pass sees only objects
  created since, and the first reading is not inflated by the harness. The
  gc-tracked count adds how many frozen objects died since (the frozen
  count, ``gc.get_freeze_count()``, drops when one is freed): at the
  baseline, what the last warm-up cycle left (a cache's last entry, a
  registry's not yet dropped dead entry) is frozen and unseen, while its
  replacement in every later reading is new and seen; counting only new
  objects would show a first-round jump the process does not have;
- the bookkeeping after the totals are read (the histogram, the baseline
  state) is bracketed by two readings of each memory probe, and what it kept
  is subtracted from the later readings. Only the harness's own code runs in
  that bracket: a registry's ``len()`` is the code under test, and it may do
  deferred work (``lifecycle``'s registry applies the deaths it queued and
  drops what they removed). Freed inside the bracket, that memory would be
  subtracted as the harness's and added back to every later reading, one
  phantom step per round; kept there, a real leak would be hidden. So the
  registries are read with the totals, before the memory probes;
- the values are stored in preallocated arrays, which neither grow nor are tracked.
"""

from __future__ import annotations

import array
import gc
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from typing import Any

from leakcheck.probes import MemoryBlocks, NativeHeap, Probe, running_loops

_OWN_FILES = (__file__.rsplit("/", 1)[0] + "/*", tracemalloc.__file__)
_NOT_OURS = [tracemalloc.Filter(False, pattern) for pattern in _OWN_FILES]


def full_collection(limit: int = 5) -> None:
    """Collect until a pass finds nothing (``__del__`` and weakref callbacks may free more)."""
    for _ in range(limit):
        if gc.collect() == 0:
            return


def settle(seconds: float = 0.002) -> None:
    """Bring the process to rest before a reading.

    Let other threads run what the cycles handed them (an event loop, a
    worker): a thread waiting for the GIL asks for it only after 5 ms, and a
    round of small cycles can finish sooner, so the reading would miss the
    tasks a loop in another thread has not yet had the chance to create. On a
    loaded machine 2 ms may not be enough, so while a running event loop
    still has callbacks queued (``call_soon_threadsafe``,
    ``run_coroutine_threadsafe``), the wait goes on, up to 100 ms.

    And empty the interpreter's type attribute cache: each slot keeps the
    name it was last looked up with, so code that builds attribute names
    afresh (``match`` class patterns read ``__match_args__`` through a new
    string each time: ``traceback`` does, to format every logged exception)
    keeps one more string alive per call until its 4096 slots are full, a
    bounded growth that looks like a leak for hundreds of cycles.
    """
    time.sleep(seconds)
    for _ in range(50):  # a loop in another thread with callbacks still queued: give it up to 100 ms more
        if not any(getattr(loop, "_ready", None) for loop in running_loops()):
            break
        time.sleep(seconds)
    _clear_internal_caches()


_clear_internal_caches = getattr(sys, "_clear_internal_caches", None) or sys._clear_type_cache


def type_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


class Sampler:
    """The per-round measures; one column (an ``array``) per measure, one slot per round."""

    def __init__(self, watch: Sequence[type], registries: Sequence[Any], probes: Sequence[Probe], rounds: int) -> None:
        self.watch = tuple(watch)
        self.registries = tuple(registries)
        self.probes = tuple(probes)
        width = 2 + len(self.watch) + len(self.registries) + len(self.probes)  # + survivors, tracked
        self.columns = [array.array("q", bytes(8 * (rounds + 1))) for _ in range(width)]
        #: Per probe: what the harness's bookkeeping kept, to subtract (memory probes only).
        self.offsets = array.array("q", bytes(8 * len(self.probes)))
        self._ours = [index for index, probe in enumerate(self.probes) if isinstance(probe, (MemoryBlocks, NativeHeap))]
        #: Memory readings around the bookkeeping; an array, so that the readings are not objects themselves.
        self._marks = array.array("q", bytes(8 * len(self.probes)))
        self.baseline_states: list[Any] = []
        self.frozen = 0  # objects frozen at the baseline; those that died since are subtracted from the count
        self.baseline_types: dict[str, int] = {}
        self.previous_types: dict[str, int] = {}
        #: Type names whose live count grew in every round so far (``None`` before the first).
        self.always_growing: set[str] | None = None

    def names(self) -> list[tuple[str, str]]:
        """``(name, unit)`` of each column, in order."""
        return [
            ("built objects alive", "objects"),
            *((f"live {type_name(kind)}", "objects") for kind in self.watch),
            *((f"len({getattr(r, 'name', None) or type(r).__name__})", "entries") for r in self.registries),
            ("gc-tracked objects", "objects"),
            *((probe.name, probe.unit) for probe in self.probes),
        ]

    def _mark(self) -> None:
        for index in self._ours:
            self._marks[index] = self.probes[index].read()

    def _kept_since_mark(self) -> None:
        for index in self._ours:
            self.offsets[index] += self.probes[index].read() - self._marks[index]

    def freeze_baseline(self) -> None:
        """Before the baseline reading: take what the explanation compares, then freeze the heap.

        Every probe is read once first, so that its own first-use caches are
        part of the frozen baseline; so is everything the warm-up left. The
        objects that each reading itself creates (its arguments, its
        closures' cells) are then created after the freeze in every reading
        alike, the baseline's included: the first round is not skewed.
        """
        settle()
        for probe in self.probes:
            probe.read()
        self.baseline_states = [probe.state() for probe in self.probes]
        full_collection()
        gc.freeze()
        self.frozen = gc.get_freeze_count()

    def read(self, index: int, survivors: Callable[[], int], harness_objects: Callable[[], list[Any]]) -> None:
        """Fill slot ``index`` of every column; slot 0 is the baseline (after ``freeze_baseline``).

        The totals go straight into the arrays (no list, no int object kept),
        then the bookkeeping runs between ``_mark`` and ``_kept_since_mark``.
        """
        settle()
        full_collection()
        first_probe = len(self.columns) - len(self.probes)
        self.columns[0][index] = survivors()
        # Before the memory probes and outside the bracket: see the module docstring.
        for position, registry in enumerate(self.registries, start=1 + len(self.watch)):
            self.columns[position][index] = len(registry)
        for position in range(len(self.probes)):
            self.columns[first_probe + position][index] = self.probes[position].read() - self.offsets[position]
        gc.collect()  # any cycle the probes made: freed before the mark, not inside the bracket
        self._mark()
        self._count_objects(index, harness_objects)  # its locals are gone when it returns
        gc.collect()  # and any cycle it made, which the next reading's collection would free
        self._kept_since_mark()

    def _count_objects(self, index: int, harness_objects: Callable[[], list[Any]]) -> None:
        """One pass over the objects created since the baseline: counts per type, watched, all."""
        ignored = {id(obj) for obj in harness_objects()}
        ignored.update((id(ignored), id(self.always_growing)))
        objects = [obj for obj in gc.get_objects() if id(obj) not in ignored]
        counts: dict[type, int] = {}
        for obj in objects:  # not Counter(map(...)): its ABC check would cache ``map`` on the first reading
            kind = type(obj)
            counts[kind] = counts.get(kind, 0) + 1
        watched = [sum(n for cls, n in counts.items() if issubclass(cls, kind)) for kind in self.watch]
        for position, value in enumerate(watched, start=1):
            self.columns[position][index] = value
        died = self.frozen - gc.get_freeze_count()  # frozen at the baseline, freed since
        self.columns[len(self.columns) - len(self.probes) - 1][index] = len(objects) - died  # gc-tracked
        del objects
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

    def owners(self, leaked: Sequence[bool]) -> list[object]:
        """The Python objects standing for what each leaked probe counts (new threads, new tasks)."""
        found: list[object] = []
        for probe, before, flag in zip(self.probes, self.baseline_states, leaked, strict=True):
            if flag:
                found.extend(probe.owners(before))
        return found

    def details(self, leaked: Sequence[bool]) -> list[tuple[str, list[str]]]:
        """``(probe name, lines)`` explaining each probe whose measure leaked (``leaked``: one flag per probe)."""
        found = []
        for probe, before, flag in zip(self.probes, self.baseline_states, leaked, strict=True):
            if flag:
                found.append((probe.name, probe.explain(before, probe.state())))
        return found


Site = tuple[str, int]


def _traced_sites() -> dict[Site, tuple[int, int]]:
    """``(file, line) -> (bytes, blocks)`` traced now, outside this package and ``tracemalloc``."""
    snapshot = tracemalloc.take_snapshot().filter_traces(_NOT_OURS)
    return {
        (stat.traceback[0].filename, stat.traceback[0].lineno): (stat.size, stat.count)
        for stat in snapshot.statistics("lineno")
    }


class SiteGrowth:
    """Allocation sites whose traced memory grew in every explanation round.

    ``tracemalloc`` runs only during the explanation rounds (it slows every
    allocation two- to sevenfold): one snapshot at their start and one after
    each, each reduced at once to bytes per site. A site that grew once (a
    cache filled per source file, ``re``'s compiled patterns, ``<frozen abc>``'s
    subclass caches) is never listed: only growth in every round is.
    """

    def __init__(self) -> None:
        self.first = self.previous = _traced_sites()
        self.always: set[Site] | None = None

    def round_done(self) -> None:
        full_collection()
        now = _traced_sites()
        grew = {site for site, (size, _) in now.items() if size > self.previous.get(site, (0, 0))[0]}
        self.always = grew if self.always is None else self.always & grew
        self.previous = now

    def top(self, limit: int = 3) -> list[tuple[str, int, int]]:
        """``(file:line, bytes, blocks)`` gained over the explanation rounds, largest first."""
        rows = []
        for site in self.always or ():
            size, count = self.previous[site]
            first_size, first_count = self.first.get(site, (0, 0))
            rows.append((f"{site[0]}:{site[1]}", size - first_size, count - first_count))
        return sorted(rows, key=lambda row: -row[1])[:limit]
