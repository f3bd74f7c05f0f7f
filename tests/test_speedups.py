"""The dispatch loops, compiled and pure, against the one contract; and how the path is chosen.

Every loop-level test runs on each loop this interpreter has: the pure
``plans`` loops, and (when built) the C ``run``, the C ``dispatcher`` and the C
``dispatch``. The whole suite also runs once per path (CI sets
``LIFECYCLE_PURE_PYTHON=1`` for the second run), which covers the registry's
own use of them.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import shutil
import subprocess
import sys
import sysconfig
import warnings
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lifecycle
from lifecycle import CallbackRegistry, Hook, _accel, dispatchers
from lifecycle.entries import constant
from lifecycle.plans import (
    FIXED_ARITY,
    Plan,
    Unresolved,
    call_target,
    discard_awaitable,
    report_failure,
    run_any,
    strong_item,
)

ROOT = Path(__file__).resolve().parent.parent
speedups = _accel.speedups

Run = Callable[[Plan, tuple[Any, ...], dict[str, Any]], int]


def pure_run(plan: Plan, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    if kwargs or len(args) > 4:
        return run_any(plan, args, kwargs)
    return FIXED_ARITY[len(args)](plan, args)


def compiled_run(plan: Plan, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    assert speedups is not None
    return speedups.run(plan, args, kwargs)


def compiled_dispatcher(plan: Plan, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    assert speedups is not None
    fire = speedups.dispatcher({"hook": None}, "hook", lambda hook: plan, "dispatch_hook")
    return fire(*args, **kwargs)


def compiled_dispatch(plan: Plan, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    """The C ``dispatch`` method, on a bare subclass of its base whose plan is ``plan``."""
    assert speedups is not None

    class Registry(speedups.DispatchBase):  # type: ignore[misc,name-defined]
        def _rebuild(self, hook: object) -> Plan:
            return plan

    registry = Registry()
    registry._sync_plans = {"hook": None}
    result: int = registry.dispatch("hook", *args, **kwargs)
    return result


def pure_inlined(plan: Plan, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    """The pure ``dispatcher``'s inlined loops."""
    return dispatchers.run(plan, args, kwargs)


def pure_inlined_dispatch(plan: Plan, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    """The pure ``dispatch``'s inlined loops, on a stand-in registry whose plan is ``plan``."""

    class Registry:
        _sync_plans: ClassVar[dict[str, Plan | None]] = {"hook": None}
        dispatch = dispatchers.pure_dispatch

        def _rebuild(self, hook: object) -> Plan:
            return plan

        def _dispatch_slow(self, hook: object, *args: Any, extra: object = (), **kwargs: Any) -> int:
            assert not extra
            return pure_run(plan, args, kwargs)

    result: int = Registry().dispatch("hook", *args, **kwargs)
    return result


needs_compiled = pytest.mark.skipif(speedups is None, reason="lifecycle._speedups is not built")
LOOPS = [
    pytest.param(pure_run, id="pure"),
    pytest.param(pure_inlined, id="pure-dispatcher"),
    pytest.param(pure_inlined_dispatch, id="pure-dispatch"),
    pytest.param(compiled_run, id="c-run", marks=needs_compiled),
    pytest.param(compiled_dispatcher, id="c-dispatcher", marks=needs_compiled),
    pytest.param(compiled_dispatch, id="c-dispatch", marks=needs_compiled),
]


class Target:
    """A weakly referable owner whose method records its calls."""

    def __init__(self, log: list[Any], tag: str) -> None:
        self.log = log
        self.tag = tag

    def method(self, *args: Any, **kwargs: Any) -> None:
        self.log.append((self.tag, args, kwargs))


def weak_item(target: Target) -> tuple[Callable[..., Any], Callable[[], Any]]:
    return Target.method, weakref.ref(target)


def make_plan(*items: tuple[Callable[..., Any], Callable[[], Any]]) -> Plan:
    return Plan(items)


@pytest.fixture
def log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING, logger="lifecycle")
    return caplog


@pytest.mark.parametrize("run", LOOPS)
def test_an_exception_is_reported_counted_and_the_loop_goes_on(run: Run, log: pytest.LogCaptureFixture) -> None:
    seen: list[Any] = []

    def broken(*args: Any) -> None:
        raise RuntimeError("boom")

    plan = make_plan(strong_item(broken), strong_item(lambda *a: seen.append(a)))
    assert run(plan, (1,), {}) == 2
    assert seen == [(1,)]
    [record] = log.records
    assert "broken" in record.getMessage() and record.exc_info is not None
    assert isinstance(record.exc_info[1], RuntimeError) and record.exc_info[2] is not None


@pytest.mark.parametrize("error", [KeyboardInterrupt, SystemExit, GeneratorExit])
@pytest.mark.parametrize("run", LOOPS)
def test_base_exceptions_propagate_at_once(run: Run, error: type[BaseException]) -> None:
    seen: list[Any] = []

    def interrupt() -> None:
        raise error("stop")

    plan = make_plan(strong_item(lambda: seen.append("before")), strong_item(interrupt),
                     strong_item(lambda: seen.append("after")))  # fmt: skip
    with pytest.raises(error, match="stop"):
        run(plan, (), {})
    assert seen == ["before"]


@pytest.mark.parametrize("run", LOOPS)
def test_unresolved_and_dead_items_are_skipped_and_not_counted(run: Run) -> None:
    seen: list[Any] = []

    def unresolved(*args: Any) -> None:
        raise Unresolved("nobody")

    dead = Target(seen, "dead")
    dead_item = weak_item(dead)
    del dead
    gc.collect()
    plan = make_plan(dead_item, strong_item(unresolved), (lambda t: seen.append(t), lambda: None),
                     weak_item(alive := Target(seen, "alive")))  # fmt: skip
    assert run(plan, ("x",), {}) == 1
    assert seen == [("alive", ("x",), {})]
    del alive


@pytest.mark.parametrize("run", LOOPS)
def test_an_owner_dying_in_an_earlier_callback_is_skipped(run: Run) -> None:
    seen: list[Any] = []
    doomed = [Target(seen, "doomed")]

    def kill(*args: Any) -> None:
        doomed.clear()  # the last strong reference: the owner dies here, mid-dispatch

    plan = make_plan(strong_item(kill), weak_item(doomed[0]))
    assert run(plan, (), {}) == 1
    assert seen == []


@pytest.mark.parametrize("run", LOOPS)
def test_coroutine_results_are_closed_with_a_warning(run: Run, log: pytest.LogCaptureFixture) -> None:
    made: list[Any] = []

    async def handler(*args: Any) -> None:
        made.append("ran")

    def starts_coroutine(*args: Any) -> Any:
        coroutine = handler(*args)
        made.append(coroutine)
        return coroutine

    plan = make_plan(strong_item(starts_coroutine), strong_item(lambda: 42))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a 'never awaited' RuntimeWarning would fail here
        assert run(plan, (), {}) == 2
        gc.collect()
    [coroutine] = made
    assert coroutine.cr_frame is None  # closed, never run
    assert [r.levelname for r in log.records] == ["WARNING"] and "awaitable" in log.records[0].getMessage()


@pytest.mark.parametrize("nargs", range(7))
@pytest.mark.parametrize("with_kwargs", [False, True])
@pytest.mark.parametrize("run", LOOPS)
def test_zero_to_six_arguments_with_and_without_keywords(run: Run, nargs: int, with_kwargs: bool) -> None:
    seen: list[Any] = []
    owner = Target(seen, "weak")
    args = tuple(range(nargs))
    kwargs = {"model": "m", "n": nargs} if with_kwargs else {}
    plan = make_plan(weak_item(owner), strong_item(lambda *a, **k: seen.append(("lambda", a, k))),
                     strong_item(Target(seen, "strong").method))  # fmt: skip
    assert run(plan, args, kwargs) == 3
    assert seen == [("weak", args, kwargs), ("lambda", args, kwargs), ("strong", args, kwargs)]


@pytest.mark.parametrize("run", LOOPS)
def test_a_callback_changing_the_keywords_dict_changes_nothing_for_the_next(run: Run) -> None:
    seen: list[Any] = []

    def meddle(**kwargs: Any) -> None:
        kwargs["added"] = True
        seen.append(dict(kwargs))

    kwargs = {"a": 1}
    assert run(make_plan(strong_item(meddle), strong_item(meddle)), (), kwargs) == 2
    assert seen == [{"a": 1, "added": True}] * 2 and kwargs == {"a": 1}


@pytest.mark.parametrize("run", LOOPS)
def test_reference_counts_are_unchanged_after_many_dispatches(run: Run) -> None:
    seen: list[Any] = []

    def fails(*args: Any, **kwargs: Any) -> None:
        raise ValueError("expected")

    def returns(*args: Any, **kwargs: Any) -> object:
        return payload

    owner = Target(seen, "owner")
    payload = object()
    keyword = object()
    plan = make_plan(weak_item(owner), strong_item(returns), strong_item(fails))
    watched = [owner, payload, keyword, returns, fails, Target.method, plan]
    logger = logging.getLogger("lifecycle")
    disabled, logger.disabled = logger.disabled, True  # 10,000 error records are not the point
    try:
        run(plan, (payload,), {"k": keyword})
        seen.clear()
        gc.collect()  # the first error's traceback cycle
        before = [sys.getrefcount(obj) for obj in watched]
        for _ in range(10_000):
            run(plan, (payload,), {"k": keyword})
        seen.clear()
        gc.collect()
        after = [sys.getrefcount(obj) for obj in watched]
    finally:
        logger.disabled = disabled
    assert after == before


@needs_compiled
def test_guards_that_still_raise_are_cleared_and_the_loop_goes_on() -> None:
    """report_failure and discard_awaitable guard themselves; should one raise anyway, isolation wins."""
    assert speedups is not None
    seen: list[Any] = []

    def bad_report(fn: object, target: object, error: Exception) -> None:
        seen.append(("report", type(error).__name__))
        raise LookupError("the reporter failed")

    def bad_discard(fn: object, target: object, result: object) -> None:
        seen.append(("discard", result))
        raise LookupError("the discarder failed")

    def fails() -> None:
        raise ValueError("x")

    plan = make_plan(strong_item(fails), strong_item(lambda: 7), strong_item(lambda: seen.append("last")))
    speedups.configure(Unresolved, bad_report, bad_discard)
    try:
        assert speedups.run(plan, (), None) == 3
    finally:
        speedups.configure(Unresolved, report_failure, discard_awaitable)
    assert seen == [("report", "ValueError"), ("discard", 7), "last"]


@needs_compiled
def test_bad_plans_are_type_errors() -> None:
    assert speedups is not None
    with pytest.raises(TypeError, match="tuple of"):
        speedups.run([], (), None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"\(fn, ref\) tuple"):
        speedups.run((1,), (), None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="kwargs"):
        speedups.run((), (), [])  # type: ignore[arg-type]


@pytest.mark.parametrize("via", ["dispatch", "dispatcher"])
def test_a_callback_that_changes_the_registry_shows_in_the_next_dispatch(via: str) -> None:
    registry = CallbackRegistry(name="changes")
    seen: list[str] = []
    fire = registry.dispatcher(Hook.SUCCESS) if via == "dispatcher" else (
        lambda: registry.dispatch(Hook.SUCCESS))  # fmt: skip

    def late() -> None:
        seen.append("late")

    def adds() -> None:
        seen.append("adds")
        registry.add(Hook.SUCCESS, late)
        registry.remove(adds)

    registry.add(Hook.SUCCESS, adds)
    assert fire() == 1 and seen == ["adds"]
    assert fire() == 1 and seen == ["adds", "late"]


def test_compiled_dispatch_keeps_the_pure_errors() -> None:
    registry = CallbackRegistry(name="errors")
    with pytest.raises(ValueError, match="unknown hook"):
        registry.dispatch("nope")
    with pytest.raises(ValueError, match="unknown hook"):
        registry.dispatch([])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="async hook"):
        registry.dispatch(Hook.ASYNC_SUCCESS)
    with pytest.raises(TypeError):
        registry.dispatch()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="multiple values"):
        registry.dispatch(Hook.SUCCESS, hook=1)  # type: ignore[misc]
    seen: list[Any] = []
    registry.add(Hook.SUCCESS, lambda *a, **k: seen.append((a, k)))
    assert registry.dispatch(Hook.SUCCESS, 1, extra=[lambda *a, **k: seen.append("extra")], other=2) == 2
    assert seen == [((1,), {"other": 2}), "extra"]


def test_the_dispatcher_is_named_after_its_hook() -> None:
    fire = CallbackRegistry(name="names").dispatcher("input")
    assert fire.__name__ == "dispatch_input" and fire.__qualname__ == "dispatch_input"  # type: ignore[attr-defined]
    assert weakref.ref(fire)() is fire


def test_compiled_says_which_path_runs() -> None:
    assert lifecycle.COMPILED is (speedups is not None)
    dispatch = CallbackRegistry.__dict__["dispatch"]
    assert dispatch is (dispatchers.pure_dispatch if not lifecycle.COMPILED else speedups.DispatchBase.dispatch)


# -- the compiled loop against the pure one, on random plans ------------------------------------

BEHAVIOURS = (
    "weak", "dead", "strong", "call_target", "plain", "raises", "unresolved", "returns", "coroutine", "interrupt",
)  # fmt: skip


def build_random_plan(kinds: list[str], seen: list[Any]) -> tuple[Plan, list[Any]]:
    keep: list[Any] = []
    items = []
    for index, kind in enumerate(kinds):
        tag = f"{kind}{index}"
        if kind in ("weak", "dead"):
            target = Target(seen, tag)
            items.append(weak_item(target))
            if kind == "weak":
                keep.append(target)
            continue

        def behave(*args: Any, kind: str = kind, tag: str = tag, **kwargs: Any) -> Any:
            seen.append((tag, args, kwargs))
            if kind == "raises":
                raise ArithmeticError(tag)
            if kind == "unresolved":
                raise Unresolved(tag)
            if kind == "interrupt":
                raise KeyboardInterrupt(tag)
            if kind == "returns":
                return tag
            if kind == "coroutine":
                return asyncio.sleep(0)
            return None

        if kind == "strong":
            items.append(strong_item(Target(seen, tag).method))
        else:
            items.append((call_target, constant(behave)) if kind == "call_target" else strong_item(behave))
    gc.collect()  # the "dead" targets die here
    return Plan(items), keep


class Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        self.messages.append(f"{record.levelname} {record.getMessage()} {exc!r}")


def outcome(run: Run, kinds: list[str], args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    seen: list[Any] = []
    plan, keep = build_random_plan(kinds, seen)
    collector = Collector()
    logger = logging.getLogger("lifecycle")
    logger.addHandler(collector)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                result: Any = run(plan, args, kwargs)
            except KeyboardInterrupt as error:
                result = ("interrupted", str(error))
    finally:
        logger.removeHandler(collector)
    del keep
    names = [message.split(" at 0x")[0] for message in collector.messages]  # addresses differ per build
    return result, seen, names


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kinds=st.lists(st.sampled_from(BEHAVIOURS), max_size=8),
    args=st.lists(st.integers(), max_size=6).map(tuple),
    kwargs=st.dictionaries(st.sampled_from(["a", "b", "model"]), st.integers(), max_size=3),
    loop=st.sampled_from([compiled_run, compiled_dispatcher, compiled_dispatch, pure_inlined, pure_inlined_dispatch]),
)
def test_compiled_loops_match_the_pure_one(
    kinds: list[str], args: tuple[Any, ...], kwargs: dict[str, Any], loop: Run
) -> None:
    if speedups is None and loop in (compiled_run, compiled_dispatcher, compiled_dispatch):
        return  # this interpreter has only the pure loops; the inlined ones are still compared
    assert outcome(loop, kinds, args, kwargs) == outcome(pure_run, kinds, args, kwargs)


# -- choosing the path ----------------------------------------------------------------------------

PROBE = (
    "import lifecycle, lifecycle.registry as r; print(lifecycle.COMPILED, type(r.CallbackRegistry.dispatch).__name__)"
)


def probe(env: dict[str, str], prelude: str = "") -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LIFECYCLE_")}
    return subprocess.run([sys.executable, "-c", prelude + PROBE], capture_output=True, text=True,
                          timeout=60, env={**clean, **env}, cwd=ROOT)  # fmt: skip


@needs_compiled
def test_the_compiled_path_runs_by_default_and_pure_python_when_asked() -> None:
    assert probe({}).stdout.split() == ["True", "method_descriptor"]
    assert probe({"LIFECYCLE_PURE_PYTHON": "1"}).stdout.split() == ["False", "function"]
    assert probe({"LIFECYCLE_PURE_PYTHON": "0"}).stdout.split() == ["True", "method_descriptor"]
    assert probe({"LIFECYCLE_PURE_PYTHON": "1", "LIFECYCLE_REQUIRE_EXTENSION": "1"}).stdout.split()[0] == "False"


def test_a_missing_extension_falls_back_unless_it_is_required() -> None:
    missing = "import sys; sys.modules['lifecycle._speedups'] = None\n"  # as if it had never been built
    assert probe({}, missing).stdout.split() == ["False", "function"]
    required = probe({"LIFECYCLE_REQUIRE_EXTENSION": "1"}, missing)
    assert required.returncode == 1
    assert "ImportError: LIFECYCLE_REQUIRE_EXTENSION=1 but lifecycle._speedups is not built" in required.stderr


def build_ext(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``setup.py build_ext`` on a copy of the sources, so the checkout is left alone."""
    (tmp_path / "lifecycle").mkdir(exist_ok=True)
    shutil.copy(ROOT / "setup.py", tmp_path)
    shutil.copy(ROOT / "lifecycle" / "_speedups.c", tmp_path / "lifecycle")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LIFECYCLE_")}
    return subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--build-lib", "out", "--build-temp", "tmp"],
        capture_output=True, text=True, timeout=300, env={**clean, **env}, cwd=tmp_path,
    )  # fmt: skip


needs_setuptools = pytest.mark.skipif(
    shutil.which("cc") is None or not Path(sysconfig.get_paths()["include"], "Python.h").exists()
    or subprocess.run([sys.executable, "-c", "import setuptools"], capture_output=True).returncode != 0,
    reason="needs setuptools, a C compiler and Python's headers",
)


@needs_setuptools
@pytest.mark.parametrize(
    ("env", "built", "fails"),
    [
        ({}, True, False),
        ({"LIFECYCLE_PURE_PYTHON": "1"}, False, False),
        ({"CC": "false", "LDSHARED": "false"}, False, False),  # no working compiler: pure Python, no error
        ({"CC": "false", "LDSHARED": "false", "LIFECYCLE_REQUIRE_EXTENSION": "1"}, False, True),
    ],
    ids=["default", "pure", "no-compiler", "no-compiler-required"],
)
def test_the_build_is_optional_unless_required(tmp_path: Path, env: dict[str, str], built: bool, fails: bool) -> None:
    result = build_ext(tmp_path, env)
    assert (result.returncode != 0) is fails, result.stderr
    assert any((tmp_path / "out" / "lifecycle").glob("_speedups*")) is built


def test_a_dispatcher_registered_on_its_own_hook_recurses_into_an_isolated_error() -> None:
    """With no Python frame between the levels, only a recursion guard in the loop stops it (no crash)."""
    script = (
        "import logging, lifecycle\n"
        "logging.disable(logging.CRITICAL)\n"
        "registry = lifecycle.CallbackRegistry()\n"
        "fire = registry.dispatcher('success')\n"
        "registry.add('success', fire)\n"
        "print(fire(), registry.dispatch('success'))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["1", "1"]


def test_dispatch_takes_its_hook_by_keyword_too() -> None:
    registry = CallbackRegistry(name="keyword")
    registry.add(Hook.SUCCESS, lambda: None)
    assert registry.dispatch(hook=Hook.SUCCESS) == 1  # type: ignore[call-arg]


def test_the_registry_keeps_the_attribute_layout_of_a_plain_class() -> None:
    """Managed dict, managed weakref and (3.13) inline values: what makes attribute access fast.

    A C base with fields of its own costs every attribute access on the
    registry on 3.13; the base has none there.
    """

    class Plain:
        pass

    layout = 0b11100  # Py_TPFLAGS_INLINE_VALUES (3.13), MANAGED_WEAKREF (3.12), MANAGED_DICT (3.11)
    assert CallbackRegistry.__flags__ & layout == Plain.__flags__ & layout
