"""pytest plugin: the ``leakcheck`` fixture, and ``--leakcheck-all`` to check every test of a suite.

    def test_router_does_not_leak(leakcheck):
        leakcheck(lambda: Router(model_list), teardown=Router.close, watch=[Router])

``--leakcheck-scale=F`` multiplies every check's cycles (at least one per
round); ``--leakcheck-graphs=DIR`` writes back-reference graphs of leaks to
``DIR/<test name>/``.

``--leakcheck-all`` re-runs each test as CPython's ``regrtest -R N:M`` does:
``N`` warm-up runs, then ``M`` measured runs (``--leakcheck-runs=N:M``,
default 3:3), each run one round of ``leakcheck.check``; a test whose
measures grew in every run fails with the same report. ``@pytest.mark.leakcheck(skip=True)``
opts a test out; ``@pytest.mark.leakcheck(warmup=5, runs=4)`` sets its runs.

Each run goes through the item's whole runtest protocol (setup, call,
teardown), with the function's teardown only: function-scoped fixtures are
made afresh and finalized in every run, so whatever a test keeps in them
(a list it appends to, ``caplog``'s records, ``tmp_path``) is released after
each run and never mistaken for a leak, while module- and session-scoped
fixtures are set up once, in the first run, and torn down after the last
as usual. Re-running only the function body with the same fixture values
would count a fixture that collects something per call as a leak.
"""

from __future__ import annotations

import functools
import os
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from _pytest.runner import CallInfo, runtestprotocol

from leakcheck.harness import NestedCheckError, assert_no_leaks, check
from leakcheck.report import LeakReport
from lifecycle._checks import int_at_least

DEFAULT_RUNS = "3:3"


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
    group.addoption(
        "--leakcheck-all",
        action="store_true",
        default=False,
        help="re-run every test (warm-up runs, then measured runs) and fail the tests that leak",
    )
    group.addoption(
        "--leakcheck-runs",
        default=DEFAULT_RUNS,
        metavar="N:M",
        help=f"with --leakcheck-all: N warm-up runs, then M measured runs of each test (default {DEFAULT_RUNS})",
    )


def parse_runs(text: str) -> tuple[int, int]:
    """``"N:M"`` as ``(warm-up runs, measured runs)``; ``ValueError`` saying what would be right."""
    warmup, sep, runs = text.partition(":")
    try:
        if not sep:
            raise ValueError
        return int_at_least(int(warmup), "warm-up runs", 0), int_at_least(int(runs), "measured runs", 2)
    except ValueError as error:
        detail = f" ({error})" if str(error) else ""
        raise ValueError(f"--leakcheck-runs must be N:M such as 3:3 (M >= 2), got {text!r}{detail}") from None


class _Mode:
    """The state of ``--leakcheck-all`` for one session: the plan per test, the verdicts, the time."""

    def __init__(self, warmup: int, runs: int) -> None:
        self.warmup = warmup
        self.runs = runs
        self.leaking: list[tuple[str, LeakReport]] = []
        self.checked = 0
        self.seconds = 0.0


_MODE = pytest.StashKey[_Mode]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "leakcheck(skip=False, warmup=None, runs=None): with --leakcheck-all, leave this test out (skip=True) "
        "or set its warm-up and measured runs",
    )
    if not config.getoption("--leakcheck-all"):
        return
    try:
        warmup, runs = parse_runs(config.getoption("--leakcheck-runs"))
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None
    config.stash[_MODE] = _Mode(warmup, runs)


def _plan(item: pytest.Item, mode: _Mode) -> tuple[int, int] | None:
    """``(warm-up, measured runs)`` for this test, or ``None`` when it is not to be checked."""
    marker = item.get_closest_marker("leakcheck")
    options = dict(marker.kwargs) if marker is not None else {}
    unknown = set(options) - {"skip", "warmup", "runs"}
    if unknown or (marker is not None and marker.args):
        raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.leakcheck takes skip=, warmup=, runs=; got {options}")
    if options.get("skip", False) or "leakcheck" in getattr(item, "fixturenames", ()):
        return None  # opted out, or checks itself through the fixture
    try:
        warmup = int_at_least(options.get("warmup", mode.warmup), "warmup", 0)
        runs = int_at_least(options.get("runs", mode.runs), "runs", 2)
    except ValueError as error:
        raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.leakcheck: {error}") from None
    return warmup, runs


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Check the markers before anything runs: a wrong one is a usage error, not a test failure."""
    mode = config.stash.get(_MODE, None)
    if mode is not None:
        for item in items:
            _plan(item, mode)


class _RunFailed(Exception):
    """A re-run that did not pass: its reports stand instead of a verdict."""

    def __init__(self, reports: list[pytest.TestReport]) -> None:
        super().__init__("a re-run failed")
        self.reports = reports


def _run_once(item: pytest.Item) -> list[pytest.TestReport]:
    """One setup/call/teardown of ``item``, unlogged, tearing down the function's fixtures only."""
    item._report_sections.clear()  # captured output of earlier runs: pytest's, not the test's
    parent = item.parent
    assert parent is not None
    reports = runtestprotocol(item, nextitem=parent, log=False)  # type: ignore[arg-type]
    _drop_spent_finalizers(item)
    return reports


def _drop_spent_finalizers(item: pytest.Item) -> None:
    """Forget what each run's function-scoped fixtures left on the wider-scoped fixtures they used.

    pytest registers, on every module- or session-scoped fixture a function
    fixture requests, a ``finish`` of that function fixture, and keeps it
    until the wider fixture is torn down: one more per run (``tmp_path`` on
    ``tmp_path_factory``). Once the function fixture is finished, calling it
    again does nothing, so dropping it changes nothing but the count.
    """
    info = getattr(item, "_fixtureinfo", None)
    for definitions in getattr(info, "name2fixturedefs", {}).values():
        for definition in definitions:
            finalizers = getattr(definition, "_finalizers", None)
            if isinstance(finalizers, list) and getattr(definition, "scope", "function") != "function":
                finalizers[:] = [finalizer for finalizer in finalizers if not _spent(finalizer)]


def _spent(finalizer: object) -> bool:
    """A ``partial(FixtureDef.finish, request=...)`` of a function fixture that is already finished."""
    owner = getattr(getattr(finalizer, "func", None), "__self__", None)
    return (
        isinstance(finalizer, functools.partial)
        and getattr(owner, "scope", None) == "function"
        and getattr(owner, "cached_result", True) is None
    )


def _passed(reports: list[pytest.TestReport]) -> bool:
    return all(report.passed for report in reports)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    mode = item.config.stash.get(_MODE, None)
    plan = _plan(item, mode) if mode is not None else None
    if mode is None or plan is None:
        return None
    ihook = item.ihook
    ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    reports = _run_once(item)
    if _passed(reports):
        reports = _check_item(item, mode, *plan, reports)
    finish = CallInfo.from_call(lambda: item.session._setupstate.teardown_exact(nextitem), when="teardown")
    if finish.excinfo is not None:  # a module or session fixture's teardown failed: report it as pytest would
        reports = [r for r in reports if r.when != "teardown"]
        reports.append(ihook.pytest_runtest_makereport(item=item, call=finish))
    for report in reports:
        ihook.pytest_runtest_logreport(report=report)
    ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


def _check_item(
    item: pytest.Item, mode: _Mode, warmup: int, runs: int, reports: list[pytest.TestReport]
) -> list[pytest.TestReport]:
    """Re-run ``item`` under ``check``; the reports of the first run, its call failed on a leak."""

    def once() -> None:
        again = _run_once(item)
        if not _passed(again):
            raise _RunFailed(again)

    started = time.perf_counter()
    try:
        verdict = check(once, warmup=warmup, cycles=runs, rounds=runs)
    except _RunFailed as failed:
        if any("NestedCheckError" in str(report.longrepr) for report in failed.reports):
            return reports  # the test runs leakcheck itself: its own verdict stands
        return failed.reports  # passed once, failed when re-run: that is the news
    except NestedCheckError:
        return reports
    finally:
        mode.seconds += time.perf_counter() - started
    mode.checked += 1
    if verdict.leaked:
        mode.leaking.append((item.nodeid, verdict))
        for report in reports:
            if report.when == "call":
                report.outcome = "failed"
                report.longrepr = f"leakcheck: {item.nodeid} leaks when run again and again\n{verdict}"
    return reports


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    mode = config.stash.get(_MODE, None)
    if mode is None:
        return
    write = terminalreporter.write_line
    terminalreporter.section("leakcheck --leakcheck-all")
    write(
        f"{mode.checked} tests re-run {mode.warmup}:{mode.runs} (warm-up:measured); "
        f"{len(mode.leaking)} leaking; the mode cost {mode.seconds:.2f}s"
    )
    for nodeid, report in mode.leaking:
        write(f"LEAK {nodeid}: {', '.join(report.leaked_measures)}")


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
