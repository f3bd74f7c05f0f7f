"""``python -m leakcheck MODULE:CALLABLE ...``: exit 0 when clean, 1 on a leak, 2 on a usage error.

Exit 3 when the target itself raised (its traceback is printed): that is
neither a verdict nor a usage error.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from leakcheck.harness import check, validate
from leakcheck.outputs import check_output_file, check_output_folder
from leakcheck.progress import ProgressBar

CLEAN, LEAK, USAGE, TARGET_FAILED = 0, 1, 2, 3


class UsageError(Exception):
    pass


def resolve(spec: str) -> Any:
    """The object named by ``package.module:attribute.path``."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise UsageError(f"{spec!r} is not MODULE:NAME (for example mypackage.tests:build_router)")
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as error:  # an import can fail in any way; all of them are the user's to fix
        raise UsageError(f"cannot import {module_name!r}: {type(error).__name__}: {error}") from None
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise UsageError(f"{module_name!r} has no attribute {attribute!r}") from None
    return target


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run build/teardown cycles of MODULE:CALLABLE and report whatever keeps growing.",
    )
    parser.add_argument("build", help="MODULE:CALLABLE that builds one object per cycle")
    parser.add_argument("--teardown", help="MODULE:CALLABLE called with each built object")
    parser.add_argument("--exercise", help="MODULE:CALLABLE called with each built object before teardown")
    parser.add_argument("--cycles", type=int, default=25, help="measured cycles (default 25)")
    parser.add_argument("--warmup", type=int, default=3, help="unjudged warm-up cycles (default 3)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds the measured cycles are split into (default 5)")
    parser.add_argument("--watch", action="append", default=[], metavar="MODULE:TYPE", help="count live instances")
    parser.add_argument("--json", metavar="PATH", help="also write the report as JSON")
    parser.add_argument("--graph", metavar="DIR", help="write back-reference graphs of leaks (DOT, SVG with Graphviz)")
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "python -m leakcheck") -> int:
    args = _parser(prog).parse_args(argv)
    try:
        build = resolve(args.build)
        teardown = resolve(args.teardown) if args.teardown else None
        exercise = resolve(args.exercise) if args.exercise else None
        watch = [resolve(spec) for spec in args.watch]
        for name, value in (("build", build), ("teardown", teardown), ("exercise", exercise)):
            if value is not None and not callable(value):
                raise UsageError(f"the {name} target is a {type(value).__name__}, not a callable")
        for spec, kind in zip(args.watch, watch, strict=True):
            if not isinstance(kind, type):
                raise UsageError(f"--watch {spec} is a {type(kind).__name__}, not a class")
        options = {"cycles": args.cycles, "warmup": args.warmup, "rounds": args.rounds}
        validate(build, teardown, exercise, watch=watch, **options)
        if args.json:
            check_output_file("--json", args.json)
        if args.graph:
            check_output_folder("--graph", args.graph)
    except (UsageError, TypeError, ValueError) as error:
        print(f"leakcheck: {error}", file=sys.stderr)
        return USAGE
    try:
        with ProgressBar(f"leakcheck {args.build}") as bar:
            report = check(
                build, teardown=teardown, exercise=exercise, watch=watch, graph_dir=args.graph, progress=bar, **options
            )
    except Exception:
        traceback.print_exc()
        return TARGET_FAILED
    print(report)
    if args.json:
        Path(args.json).write_text(report.to_json() + "\n")
    return LEAK if report.leaked else CLEAN


def main_entry() -> None:
    """The ``leakcheck`` console script: the same as ``python -m leakcheck``, under its own name.

    ``python -m`` puts the current folder first on ``sys.path``, and a console
    script puts its own folder there instead; the targets a user names live in
    the current folder, so the script puts it back.
    """
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    sys.exit(main(prog="leakcheck"))
