"""Leaks that are not (only) Python objects: each found, named and explained; look-alikes stay clean."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from leakcheck import Measure, check
from leakcheck.harness import holder_hint
from tests import leak_zoo


@pytest.fixture(params=sorted(leak_zoo.KINDS))
def kind(request: pytest.FixtureRequest) -> Iterator[str]:
    yield request.param
    leak_zoo.KINDS[request.param][3]()  # close, stop, cancel, kill, unregister, remove


def test_each_new_kind_of_leak_is_found_named_and_explained(kind: str) -> None:
    build, measure, words, _ = leak_zoo.KINDS[kind]
    report = check(build, cycles=15, rounds=3)
    assert report.leaked and measure in report.leaked_measures, str(report)
    text = str(report)
    for word in words:
        assert word in text, text


@pytest.mark.parametrize("name", sorted(leak_zoo.KIND_LOOK_ALIKES))
@pytest.mark.parametrize("attempt", range(3))
def test_look_alikes_of_the_new_kinds_are_clean(name: str, attempt: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # pytest's log capture adds its handlers to every logger and keeps every record: a real
    # growth while a test runs, so the logged failure goes only to the zoo's discarding handler.
    monkeypatch.setattr(leak_zoo.FAILURE_LOG, "handlers", [leak_zoo.DISCARD])
    report = check(leak_zoo.KIND_LOOK_ALIKES[name], cycles=15, rounds=3)
    assert not report.leaked, str(report)


def test_an_object_only_atexit_holds_has_no_chain_and_names_atexit() -> None:
    try:
        report = check(leak_zoo.atexit_bound_method, cycles=9, rounds=3)
    finally:
        leak_zoo.unregister_atexit()
    (group,) = [g for g in report.survivors if g.type_name == "tests.leak_zoo.ExitHooked"]
    example = group.examples[0]
    assert example.chain is None and example.hint is not None
    assert example.hint.startswith("atexit callbacks +") and "likely held by atexit" in example.hint
    assert "held by: no chain from a module or a running frame; atexit callbacks +" in str(report)


def test_the_holder_hint_without_anything_process_wide_growing_blames_c_code_or_the_interpreter() -> None:
    measures = [Measure("atexit callbacks", "callbacks", (0, 0, 0, 0), False)]
    assert "C extension or the interpreter" in holder_hint(measures)
    native = Measure("native heap (glibc mallinfo2)", "bytes", (0, 10, 20, 30), True)
    assert holder_hint([*measures, native]).endswith("likely held by a C extension (native memory grew alongside)")


def test_fd_report_says_what_the_descriptors_point_to() -> None:
    try:
        report = check(leak_zoo.fd_never_closed, cycles=9, rounds=3)
    finally:
        leak_zoo.close_leaked_fds()
    (detail,) = [d for d in report.details if d.measure == "open file descriptors"]
    assert detail.lines == (f"{report.cycles} fds to {leak_zoo.FD_TARGET}",)  # one per measured cycle, no more
    assert report.leaked_measures == ("open file descriptors",), str(report)
