"""pytest plugin: the ``leakcheck`` fixture, and options to scale cycles and keep graphs.

    def test_router_does_not_leak(leakcheck):
        leakcheck(lambda: Router(model_list), teardown=Router.close, watch=[Router])

``--leakcheck-scale=F`` multiplies every check's cycles (at least one per
round); ``--leakcheck-graphs=DIR`` writes back-reference graphs of leaks to
``DIR/<test name>/``.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
from typing import Any

import pytest

from leakcheck.harness import assert_no_leaks
from leakcheck.report import LeakReport


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("leakcheck")
    group.addoption(
        "--leakcheck-scale",
        type=float,
        default=1.0,
        metavar="F",
        help="multiply the number of measured cycles of every leakcheck (default 1.0)",
    )
    group.addoption(
        "--leakcheck-graphs",
        default=None,
        metavar="DIR",
        help="write back-reference graphs of leaks found by the leakcheck fixture to DIR/<test>/",
    )


@pytest.fixture
def leakcheck(request: pytest.FixtureRequest) -> Callable[..., LeakReport]:
    """``assert_no_leaks`` with the session's scale and graph folder applied."""
    scale = float(request.config.getoption("--leakcheck-scale"))
    if scale <= 0:
        raise pytest.UsageError(f"--leakcheck-scale must be positive, got {scale}")
    graphs = request.config.getoption("--leakcheck-graphs")

    @functools.wraps(assert_no_leaks)
    def run(build: Callable[[], Any], **options: Any) -> LeakReport:
        rounds = options.get("rounds", 5)
        options["cycles"] = max(rounds, round(options.get("cycles", 25) * scale))
        if graphs and "graph_dir" not in options:
            options["graph_dir"] = os.path.join(graphs, re.sub(r"[^\w.-]+", "_", request.node.name))
        return assert_no_leaks(build, **options)

    return run
