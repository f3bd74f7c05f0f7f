"""A build result that cannot be weakly referenced is not silently called clean."""

from __future__ import annotations

import json
from typing import Any

import pytest

import leakcheck
from tests.leak_zoo import Widget

NOT_TRACKED = "built objects not tracked"


@pytest.mark.parametrize(
    ("build", "shown"),
    [(lambda: None, "None"), (lambda: 7, "int"), (list, "list")],
    ids=["None", "int", "list"],
)
def test_an_untrackable_build_result_is_named_in_the_report(build: Any, shown: str) -> None:
    report = leakcheck.check(build, cycles=4, rounds=2)
    assert not report.leaked
    assert report.untracked == (shown,)
    text = str(report).splitlines()
    assert text[0].startswith("leakcheck: clean")
    assert text[1].startswith(f"  {NOT_TRACKED}: build returned {shown}, which cannot be weakly referenced")
    assert json.loads(report.to_json())["untracked"] == [shown]


def test_a_trackable_build_result_says_nothing_of_the_kind() -> None:
    report = leakcheck.check(Widget, cycles=4, rounds=2)
    assert report.untracked == ()
    assert NOT_TRACKED not in str(report)
