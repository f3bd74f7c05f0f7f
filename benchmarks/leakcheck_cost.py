"""``python -m benchmarks.leakcheck_cost``: what a default leak check costs on a real router.

The router is ``router_demo``'s ``Router`` over a few hundred deployments,
built, exercised and closed once per cycle (a few thousand objects each), and
one small object per cycle is leaked on purpose, so the check runs its
confirmation rounds and its explanation: the worst case of a default check.

The figure is a ratio measured in one run: the seconds of
``leakcheck.check(...)`` with default settings, explanation included, over the
seconds of the same number of cycles run bare (build, exercise, close, one
full ``gc.collect()`` each). Each side is timed ``--repeat`` times,
interleaved, and the minimum kept.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Sequence
from typing import Any

import leakcheck
from lifecycle import CallbackRegistry
from router_demo.router import Router

MESSAGES = [{"role": "user", "content": "hello"}]
#: One small object kept per cycle: the leak the check must find and explain.
KEPT: list[Any] = []


def model_list(deployments: int) -> list[dict[str, Any]]:
    """Deployments spread over 20 model names, built fresh each cycle as a config reload would."""
    return [
        {"model_name": f"model-{index % 20}",
         "litellm_params": {"model": f"provider/model-{index}", "mock_latency_ms": 0, "mock_failure_rate": 0.0}}
        for index in range(deployments)
    ]  # fmt: skip


class Workload:
    """``build``/``exercise``/``teardown`` of one router per cycle, on a registry of its own."""

    def __init__(self, deployments: int) -> None:
        self.deployments = deployments
        self.registry = CallbackRegistry(max_callbacks=100_000, name="benchmark")

    def build(self) -> Router:
        router = Router(model_list(self.deployments), registry=self.registry, seed=7)
        KEPT.append(router.deployments[0])  # the leak: one small object per cycle
        return router

    @staticmethod
    def exercise(router: Router) -> None:
        router.completion("model-1", MESSAGES)

    @staticmethod
    def teardown(router: Router) -> None:
        router.close()

    def bare(self, cycles: int) -> float:
        """Seconds for ``cycles`` cycles with one full collection each, nothing measured."""
        started = time.perf_counter()
        for _ in range(cycles):
            router = self.build()
            self.exercise(router)
            self.teardown(router)
            del router
            gc.collect()
        return time.perf_counter() - started

    def checked(self) -> tuple[float, leakcheck.LeakReport]:
        """Seconds for one default check, explanation included, and its report."""
        started = time.perf_counter()
        report = leakcheck.check(self.build, exercise=self.exercise, teardown=self.teardown)
        return time.perf_counter() - started, report


def objects_per_cycle(workload: Workload) -> tuple[int, int]:
    """Memory blocks (objects of every kind) and gc-tracked objects that one built router keeps alive."""
    gc.collect()
    blocks, tracked = sys.getallocatedblocks(), len(gc.get_objects())
    router = workload.build()
    blocks, tracked = sys.getallocatedblocks() - blocks, len(gc.get_objects()) - tracked
    workload.teardown(router)
    del router
    KEPT.pop()
    return blocks, tracked


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.leakcheck_cost", description=__doc__.split("\n")[0])
    parser.add_argument("--deployments", type=int, default=400, help="deployments per router (default 400)")
    parser.add_argument("--repeat", type=int, default=3, help="timings of each side, minimum kept (default 3)")
    args = parser.parse_args(argv)
    if args.deployments < 1 or args.repeat < 1:
        print("benchmarks.leakcheck_cost: --deployments and --repeat must be at least 1", file=sys.stderr)
        return 2
    workload = Workload(args.deployments)
    blocks, tracked = objects_per_cycle(workload)
    print(f"python {sys.version.split()[0]}; router of {args.deployments} deployments: "
          f"{blocks:,} memory blocks ({tracked:,} gc-tracked objects) per cycle")  # fmt: skip
    checked_best = bare_best = float("inf")
    report: leakcheck.LeakReport | None = None
    for _ in range(args.repeat):
        seconds, report = workload.checked()
        checked_best = min(checked_best, seconds)
        bare_best = min(bare_best, workload.bare(report.warmup + report.cycles))
        KEPT.clear()
    assert report is not None
    cycles = report.warmup + report.cycles
    print(f"default check (explanation included): {checked_best:.3f} s, verdict {'LEAK' if report.leaked else 'clean'}")
    print(f"bare: {cycles} cycles with one gc.collect() each: {bare_best:.3f} s")
    print(f"ratio check / bare: {checked_best / bare_best:.2f}x (goal: at most 2x)")
    print("the last check's report:")
    print("\n".join("  " + line for line in str(report).splitlines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
