"""``python -m benchmarks``: measure, print ratios, optionally write JSON and a plot, and gate."""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path
from typing import Any

import blinker
import psygnal

from benchmarks import peers, report, suites


def run(quick: bool) -> dict[str, Any]:
    rounds = 3 if quick else 9
    sizes = (1, 3, 10, 30, 100)
    results: dict[str, Any] = {
        "python": platform.python_version(),
        "psygnal": f"{psygnal.__version__} ({'compiled' if psygnal._compiled else 'pure Python'})",
        "blinker": blinker.__version__ if hasattr(blinker, "__version__") else "installed",
        "quick": quick,
        "path": peers.path_header(),
    }
    print("measuring dispatch...", file=sys.stderr)
    results["dispatch"] = suites.dispatch(sizes, rounds)
    results["dispatch_bookkeeping"] = suites.dispatch_bookkeeping(10, rounds)
    results["dispatch_realistic"] = suites.dispatch_realistic(rounds)
    print("measuring build + teardown...", file=sys.stderr)
    results["teardown"] = suites.teardown(rounds)
    print("measuring add...", file=sys.stderr)
    results["add"] = suites.add(rounds)
    print("measuring leakcheck...", file=sys.stderr)
    results["leakcheck"] = suites.leakcheck_cost(200_000 if quick else 1_000_000)
    results["memory_cycles"] = 20_000 if quick else 100_000
    print("measuring memory...", file=sys.stderr)
    results["memory"] = suites.memory_per_cycle(results["memory_cycles"])
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and smaller sizes (a smoke run)")
    parser.add_argument("--json", metavar="PATH", help="write every figure and goal as JSON")
    parser.add_argument("--plot", metavar="PATH", help="plot dispatch cost against receiver count (PNG)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args(argv)
    results = run(args.quick)
    found = report.goals(results)
    print(f"python {results['python']}, psygnal {results['psygnal']}, blinker {results['blinker']}")
    print(results["path"])
    print(report.table(results))
    print("goals:")
    for goal in found:
        print(goal.row())
    if args.json:
        data = {**results, "dispatch": {str(k): v for k, v in results["dispatch"].items()}}
        data["goals"] = [{"measure": g.measure, "value": g.value, "limit": g.limit, "met": g.met} for g in found]
        Path(args.json).write_text(json.dumps(data, indent=2) + "\n")
    if args.plot:
        report.plot(results, args.plot)
    return 1 if args.check and not all(goal.met for goal in found) else 0


if __name__ == "__main__":
    sys.exit(main())
