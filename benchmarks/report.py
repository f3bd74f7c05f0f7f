"""Goals, the table, the JSON and the plot."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from benchmarks.peers import COMPILED_ROWS, PURE_ROWS


@attrs.frozen
class Goal:
    """``value`` (a ratio, or bytes) must be at most ``limit``."""

    measure: str
    value: float
    limit: float
    unit: str = "x"

    @property
    def met(self) -> bool:
        return self.value <= self.limit

    def row(self) -> str:
        mark = "met   " if self.met else "MISSED"
        value = f"{self.value:8.2f}" if self.unit == "x" else f"{self.value:8.5f}"
        return f"  {mark} {self.measure:<70} {value}{self.unit}  (goal <= {self.limit:g}{self.unit})"


def goals(results: Mapping[str, Any]) -> list[Goal]:
    """The issue's goals, as ratios measured in one run: per path where the run has it."""
    found: list[Goal] = []
    dispatch = results["dispatch"]
    compiled = COMPILED_ROWS[0] in next(iter(dispatch.values()))
    dispatch_rows = (COMPILED_ROWS[0], PURE_ROWS[0]) if compiled else (PURE_ROWS[0],)
    for size, timings in dispatch.items():
        bare = timings["bare loop"]
        if compiled and size in (1, 10, 30):
            found.append(Goal(f"compiled dispatch() per callback / bare loop, {size} receivers",
                              timings[COMPILED_ROWS[0]] / bare, 1.1))  # fmt: skip
        if compiled and size == 10:
            found.append(Goal("compiled dispatcher() per callback / bare loop, 10 receivers",
                              timings[COMPILED_ROWS[1]] / bare, 1.0))  # fmt: skip
        if size in (10, 30):
            floor = timings["weakref floor"]
            found.append(Goal(f"pure dispatch() per callback / weakref floor, {size} receivers",
                              timings[PURE_ROWS[0]] / floor, 1.25 if size == 10 else 1.2))  # fmt: skip
        for row in dispatch_rows:
            for peer in ("psygnal", "blinker"):
                ratio = timings[row] / timings[peer]
                found.append(Goal(f"{row.replace(',', '')} / {peer}, {size} receivers", ratio, 1.0))
    realistic = results.get("dispatch_realistic")
    if realistic is not None:
        if compiled:
            found.append(Goal("realistic hook: compiled dispatch() / bare strong loop",
                              realistic[COMPILED_ROWS[0]] / realistic["bare loop"], 1.3))  # fmt: skip
        found.append(Goal("realistic hook: pure dispatch() / bare strong loop",
                          realistic[PURE_ROWS[0]] / realistic["bare loop"], 1.8))  # fmt: skip
    teardown = results["teardown"]
    for way in ("remove_owner", "drop"):
        small = teardown[f"lifecycle {way}, 100 others"]
        large = teardown[f"lifecycle {way}, 10000 others"]
        found.append(Goal(f"build + teardown by {way}: 10,000 others / 100 others", large / small, 1.2))
        for peer in ("psygnal", "blinker"):
            found.append(Goal(f"build + teardown by {way} / {peer} (connect six, drop)",
                              small / teardown[f"{peer} drop, 100 others"], 1.0))  # fmt: skip
    add = results["add"]
    for kind in ("add duplicate", "add new + remove"):
        found.append(Goal(f"{kind}: 10,000 entries / 100 entries",
                          add[f"{kind}, 10000 entries"] / add[f"{kind}, 100 entries"], 1.2))  # fmt: skip
    cost = list(results["leakcheck"].values())
    found.append(Goal("leakcheck cost per cycle: big heap / empty heap", cost[1] / cost[0], 1.5))
    for way, size in results["memory"].items():
        # Zero to within a dict table that is reallocated at a different moment: < 1 KiB per 100,000 cycles.
        found.append(Goal(f"memory kept per build/teardown cycle ({way})", size, 0.01, " B"))
    return found


def table(results: Mapping[str, Any]) -> str:
    lines = ["dispatch, nanoseconds per callback (ratio to the bare loop):"]
    dispatch = results["dispatch"]
    names = list(next(iter(dispatch.values())))
    lines.append("  " + f"{'receivers':<22}" + "".join(f"{size:>16}" for size in dispatch))
    for name in names:
        cells = "".join(
            f"{t[name] * 1e9:>8.1f} ({t[name] / t['bare loop']:4.2f}x)" for t in dispatch.values()
        )
        lines.append(f"  {name:<22}{cells}")
    bookkeeping = results["dispatch_bookkeeping"]
    lines.append("dispatch with bookkeeping receivers (the router's kind), 10 receivers:")
    for name, seconds in bookkeeping.items():
        lines.append(f"  {name:<22}{seconds * 1e9:>8.1f} ns ({seconds / bookkeeping['bare loop']:4.2f}x)")
    realistic = results.get("dispatch_realistic")
    if realistic is not None:
        lines.append("realistic hook (6 weak bound methods, 3 integrations, 1 integration name), per callback:")
        for name, seconds in realistic.items():
            lines.append(f"  {name:<22}{seconds * 1e9:>8.1f} ns ({seconds / realistic['bare loop']:4.2f}x)")
    lines.append("build + teardown of a six-callback owner, microseconds:")
    for name, seconds in results["teardown"].items():
        lines.append(f"  {name:<40}{seconds * 1e6:>8.2f}")
    lines.append("add, microseconds per call:")
    for name, seconds in results["add"].items():
        lines.append(f"  {name:<40}{seconds * 1e6:>8.2f}")
    lines.append("leakcheck, milliseconds per cycle:")
    for name, seconds in results["leakcheck"].items():
        lines.append(f"  {name:<40}{seconds * 1e3:>8.3f}")
    lines.append(f"memory kept per build/teardown cycle over {results['memory_cycles']:,} cycles, bytes:")
    for name, size in results["memory"].items():
        lines.append(f"  {name:<40}{size:>10.5f}")
    return "\n".join(lines)


def plot(results: Mapping[str, Any], path: str) -> None:
    """Dispatch cost per callback against receiver count, one line per library."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dispatch = results["dispatch"]
    sizes = list(dispatch)
    figure, axes = plt.subplots(figsize=(7, 5))
    for name in next(iter(dispatch.values())):
        axes.plot(sizes, [dispatch[size][name] * 1e9 for size in sizes], marker="o", label=name)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xticks(sizes, [str(size) for size in sizes])
    axes.set_xlabel("receivers (weak bound methods of plain objects)")
    axes.set_ylabel("ns per callback (log)")
    axes.set_title("Dispatch cost per callback")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3, frameon=False)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
