"""The verdict of a leak check, for people (``str``) and for machines (``to_json``)."""

from __future__ import annotations

import itertools
import json
from typing import Any

import attrs

#: Measures every text report shows, even when they did not change.
_ALWAYS_SHOWN = ("built objects alive", "gc-tracked objects", "Python memory blocks")


@attrs.frozen
class Measure:
    """One measure, read at the baseline and after each measured round."""

    name: str
    unit: str
    values: tuple[int, ...]
    #: Grew in every measured round: growth that keeps going.
    leaked: bool

    @property
    def deltas(self) -> tuple[int, ...]:
        return tuple(after - before for before, after in itertools.pairwise(self.values))

    @property
    def growth(self) -> int:
        return self.values[-1] - self.values[0]


@attrs.frozen
class Example:
    """One surviving object: who holds it, and where it was allocated."""

    chain: str | None
    allocated_at: str | None
    #: When no chain was found: what grew alongside, and the likely holder.
    hint: str | None = None


@attrs.frozen
class Survivors:
    """Objects of one type that outlived their cycles."""

    type_name: str
    count: int
    #: ``True``: their number grew in every round (a leak); ``False``: a constant number retained.
    leaked: bool
    #: What the count means: ``"built objects alive"`` or ``"instances gained since baseline"``.
    what: str
    examples: tuple[Example, ...] = ()


@attrs.frozen
class Detail:
    """What a process-wide measure that leaked consists of: new fds, threads, tasks, handlers..."""

    measure: str
    lines: tuple[str, ...]


@attrs.frozen
class LeakReport:
    leaked: bool
    cycles: int
    warmup: int
    #: Measured rounds, confirmation rounds included.
    rounds: int
    measures: tuple[Measure, ...]
    survivors: tuple[Survivors, ...]
    #: ``(file:line, bytes, blocks)``: sites whose traced memory grew in every explanation round.
    memory_growth: tuple[tuple[str, int, int], ...] = ()
    #: What each leaked process-wide measure consists of.
    details: tuple[Detail, ...] = ()
    #: Cycles run after the verdict, under ``tracemalloc``, to find allocation sites.
    explanation_cycles: int = 0
    graphs: tuple[str, ...] = ()
    seconds: float = 0.0
    #: Rounds added to confirm a suspicion (a measure that grew in every round), else 0.
    confirmation_rounds: int = 0
    #: What ``build`` returned when it could not be weakly referenced (``"None"``, ``"int"``...):
    #: those cycles' objects were not tracked, only the heap-wide measures saw them.
    untracked: tuple[str, ...] = ()

    @property
    def deltas(self) -> dict[str, tuple[int, ...]]:
        """Per measure, its change in each measured round."""
        return {measure.name: measure.deltas for measure in self.measures}

    @property
    def leaked_measures(self) -> tuple[str, ...]:
        return tuple(measure.name for measure in self.measures if measure.leaked)

    @property
    def retained(self) -> tuple[Survivors, ...]:
        return tuple(s for s in self.survivors if not s.leaked)

    def as_dict(self) -> dict[str, Any]:
        data = attrs.asdict(self)
        data["deltas"] = {name: list(values) for name, values in self.deltas.items()}
        data["leaked_measures"] = list(self.leaked_measures)
        return data

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.as_dict(), indent=indent, sort_keys=True)

    def __str__(self) -> str:
        verdict = "LEAK" if self.leaked else "clean"
        lines = [
            f"leakcheck: {verdict} after {self.warmup} warm-up and {self.cycles} measured cycles "
            f"in {self.rounds} rounds"
            + (f" ({self.confirmation_rounds} of them to confirm)" if self.confirmation_rounds else "")
            + (f", {self.explanation_cycles} more traced to explain" if self.explanation_cycles else "")
            + f" ({self.seconds:.2f}s)"
        ]
        if self.untracked:
            lines.append(
                f"  built objects not tracked: build returned {' or '.join(self.untracked)}, which cannot be"
                " weakly referenced; only the other measures were judged (return the object a cycle builds, or watch"
                " its class)"
            )
        shown = [m for m in self.measures if m.leaked or any(m.deltas) or m.name in _ALWAYS_SHOWN]
        width = max(len(m.name) for m in shown) if shown else 0
        for measure in shown:
            flag = "LEAK " if measure.leaked else "     "
            deltas = " ".join(f"{d:+d}" for d in measure.deltas)
            lines.append(f"  {flag}{measure.name:<{width}}  {measure.growth:+d} {measure.unit}  (per round: {deltas})")
        unchanged = [m.name for m in self.measures if m not in shown]
        if unchanged:
            lines.append(f"       unchanged: {', '.join(unchanged)}")
        for detail in (d for d in self.details if d.lines):
            lines.append(f"  {detail.measure}, new since the baseline and still there at the end:")
            lines.extend(f"      {line}" for line in detail.lines)
        for group in self.survivors:
            kind = "leaked" if group.leaked else "retained (constant, not a leak)"
            lines.append(f"  {group.type_name}: {group.count} {group.what}, {kind}")
            for example in group.examples:
                if example.chain:
                    lines.append(f"      held by: {example.chain}")
                else:
                    lines.append(f"      held by: no chain from a module or a running frame; {example.hint}")
                if example.allocated_at:
                    lines.append(f"      allocated at: {example.allocated_at}")
        for site, size, blocks in self.memory_growth:
            lines.append(f"  memory grew in every traced round at {site}: {size:+d} bytes in {blocks:+d} blocks")
        for path in self.graphs:
            lines.append(f"  graph: {path}")
        return "\n".join(lines)
