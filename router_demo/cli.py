"""``python -m router_demo``: run the gateway simulation and print what it saw.

Exit 0 when clean (one router alive, the registry back at its one-router
size, no request failed because of a reload, leakcheck clean); 1 otherwise;
2 on a usage or configuration error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from leakcheck.outputs import check_output_file
from leakcheck.progress import ProgressBar
from router_demo.errors import ConfigError
from router_demo.gateway import SHOWN_PER_LEVEL, Summary, run_gateway


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m router_demo",
        description="Simulate a long-lived LLM gateway that hot-reloads its router, and check that nothing leaks.",
    )
    parser.add_argument("--config", metavar="PATH", help="TOML configuration (default: the embedded one)")
    parser.add_argument("--reloads", type=int, default=300, help="hot reloads to perform (default 300)")
    parser.add_argument("--threads", type=int, default=4, help="request threads, besides one asyncio loop (default 4)")
    parser.add_argument("--leaky", action="store_true", help="make the classic mistake: strong callbacks, no close()")
    parser.add_argument("--json", metavar="PATH", help="also write the summary as JSON")
    return parser


def _hooks_line(counts: dict[str, int]) -> str:
    return " ".join(f"{hook}={count}" for hook, count in counts.items())


def _swap_line(swap: Mapping[str, Any]) -> str:
    if "skipped" in swap:
        return f"  integration swap        skipped: {swap['skipped']}"
    return (
        f"  integration swap        at reload {swap['at_reload']}: {swap['entries_removed']} entries of "
        f"MetricsLogger replaced; events before {sum(swap['metrics_before'].values())}, "
        f"after {sum(swap['metrics_after'].values())}"
    )


def _log_line(counts: Mapping[str, int]) -> str:
    line = "  lifecycle log           " + " ".join(f"{level.lower()}s={n}" for level, n in sorted(counts.items()))
    if any(counts.values()):
        line += f" (the first {SHOWN_PER_LEVEL} of each level logged, all counted)"
    return line


def render(summary: Summary) -> str:
    verdict = "CLEAN" if summary.clean else "LEAK"
    lines = [
        f"router_demo ({summary.mode}): {verdict}",
        f"  reloads                 {summary.reloads} in {summary.seconds:.1f}s, {summary.threads} threads + asyncio",
        f"  requests served         ok={summary.requests_ok} failed={summary.requests_failed} "
        f"(failed because of a reload: {summary.reload_errors})",
        f"  callbacks per hook      start: {_hooks_line(dict(summary.callbacks_start))}",
        f"                          end:   {_hooks_line(dict(summary.callbacks_end))}",
        f"  routers alive           {summary.routers_alive} of {summary.routers_built} built"
        f" ({summary.routers_without_callbacks} had callbacks refused at the limit)",
        f"  callbacks refused       {summary.callbacks_refused} (registry stats)",
        _log_line(summary.lifecycle_log),
        f"  memory per reload       {summary.memory_per_reload_bytes:+.0f} bytes",
    ]
    if summary.swap:
        lines.append(_swap_line(summary.swap))
    lines.append("  leakcheck verdict (reload cycles on a registry of their own):")
    lines.extend("    " + line for line in summary.leakcheck_text.splitlines())
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.json:
            check_output_file("--json", args.json)  # before the run, not after it
        with ProgressBar("reloading") as reloading, ProgressBar("leakcheck") as checking:

            def verdict_progress(done: int, total: int) -> None:
                reloading.close()  # end the reload bar's line before the next bar starts
                checking(done, total)

            summary = run_gateway(
                args.config,
                reloads=args.reloads,
                threads=args.threads,
                leaky=args.leaky,
                progress=reloading,
                verdict_progress=verdict_progress,
            )
    except (ConfigError, ValueError) as error:
        print(f"router_demo: {error}", file=sys.stderr)
        return 2
    print(render(summary))
    if args.json:
        Path(args.json).write_text(json.dumps(summary.as_dict(), indent=2, default=str) + "\n")
    return 0 if summary.clean else 1
