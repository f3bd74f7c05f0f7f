"""Fork safety (issue 8): a child's registries work at once, whatever the parent's threads were doing.

``os.fork()`` copies only the forking thread; a lock that another thread held
at that moment stays held forever in the child. Threads hammer a registry,
the process-wide ``default_registry``, fresh registries resolving integration
names, and the catalog, while the main thread forks 20 children with
``os.fork()`` and 20 with ``multiprocessing``'s fork start method; every child
must finish its add / len / dispatch / remove_owner. A child that hangs is
ended by SIGALRM after dumping every thread's traceback (faulthandler), and
the whole scenario runs in a child interpreter with its own timeout.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
import threading
import time
import warnings
from typing import Any

import pytest

from lifecycle import CallbackRegistry, Catalog, CustomLogger, Hook, default_registry
from tests.child_process import run_child

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork() is POSIX-only")

CHILDREN = 20
CHILD_ALARM = 10  # seconds a forked child may take before SIGALRM ends it


class Owner:
    def __init__(self) -> None:
        self.hits = 0

    def on(self, *args: Any) -> None:
        self.hits += 1


class Probe(CustomLogger):
    def __init__(self) -> None:
        self.events = 0

    def log_service_event(self, *args: Any, **kwargs: Any) -> None:
        self.events += 1


class Scene:
    """What the parent's threads hammer, and what every child uses."""

    def __init__(self) -> None:
        self.catalog = Catalog()
        self.catalog.register("probe", Probe)
        self.registry = CallbackRegistry(max_callbacks=10**6, catalog=self.catalog, name="hammered")
        self.fresh = CallbackRegistry(catalog=self.catalog, name="fresh")
        self.stop = threading.Event()
        self.rounds = [0, 0, 0]

    def hammer_registry(self) -> None:
        while not self.stop.is_set():
            owner = Owner()
            self.registry.add(Hook.SUCCESS, owner.on)
            self.registry.add(Hook.FAILURE, owner.on)
            self.registry.add(Hook.SERVICE, "probe", owner=owner)
            self.registry.dispatch(Hook.SUCCESS)
            self.registry.remove_owner(owner)
            self.rounds[0] += 1

    def hammer_default_registry(self) -> None:
        while not self.stop.is_set():
            owner = Owner()
            default_registry.add(Hook.INPUT, owner.on)
            len(default_registry)
            default_registry.remove_owner(owner)
            self.rounds[1] += 1

    def hammer_integrations(self) -> None:
        """Fresh registries resolving names (their integrations' lock), and catalog registrations."""
        while not self.stop.is_set():
            fresh = CallbackRegistry(catalog=self.catalog, name="fresh")
            self.fresh = fresh
            fresh.add(Hook.SERVICE, "probe")
            fresh.dispatch(Hook.SERVICE)
            self.catalog.register("probe", Probe)
            self.rounds[2] += 1

    def child_job(self) -> None:
        """What each forked child does; any failure or hang ends it with a non-zero status."""
        faulthandler.register(signal.SIGALRM, all_threads=True, chain=True)
        signal.alarm(CHILD_ALARM)
        owner = Owner()
        assert self.registry.add(Hook.SUCCESS, owner.on) is True
        assert len(self.registry) >= 1
        assert self.registry.dispatch(Hook.SUCCESS, 1) >= 1 and owner.hits == 1
        assert self.registry.remove_owner(owner) == 1
        self.registry._check_invariants()  # type: ignore[attr-defined]

        assert default_registry.add(Hook.INPUT, owner.on) is True
        assert len(default_registry) >= 1
        assert default_registry.dispatch(Hook.INPUT) >= 1 and owner.hits == 2
        assert default_registry.remove_owner(owner) == 1
        default_registry._check_invariants()  # type: ignore[attr-defined]

        self.catalog.register("child-probe", Probe)
        fresh = self.fresh
        assert fresh.add(Hook.SERVICE, "child-probe") is True
        assert fresh.dispatch(Hook.SERVICE) >= 1
        assert fresh.remove("child-probe") == 1
        fresh._check_invariants()  # type: ignore[attr-defined]
        signal.alarm(0)


def _run_forked(job: Any) -> None:
    """The body of a forked child: exit 0 when ``job`` finishes, 1 when it raises."""
    code = 1
    try:
        job()
        code = 0
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(code)


def _wait_all(pids: list[int], timeout: float) -> dict[int, int | None]:
    """Each child's wait status, or ``None`` for a child still running at the deadline (then killed)."""
    deadline = time.monotonic() + timeout
    statuses: dict[int, int | None] = {}
    waiting = set(pids)
    while waiting and time.monotonic() < deadline:
        for pid in list(waiting):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                statuses[pid] = status
                waiting.discard(pid)
        time.sleep(0.01)
    for pid in waiting:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        statuses[pid] = None
    return statuses


def scenario(method: str) -> None:
    import multiprocessing

    warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: "multi-threaded, use of fork() may deadlock"
    scene = Scene()
    threads = [
        threading.Thread(target=work, daemon=True)
        for work in (scene.hammer_registry, scene.hammer_default_registry, scene.hammer_integrations)
    ]
    sys.setswitchinterval(1e-5)
    for thread in threads:
        thread.start()
    while not all(scene.rounds):
        time.sleep(0.001)
    failures = []
    if method == "os.fork":
        pids = []
        for _ in range(CHILDREN):
            pid = os.fork()
            if pid == 0:
                _run_forked(scene.child_job)
            pids.append(pid)
            time.sleep(0.003)
        for status in _wait_all(pids, CHILD_ALARM + 10).values():
            if status is None or os.waitstatus_to_exitcode(status) != 0:
                failures.append(status if status is None else os.waitstatus_to_exitcode(status))
    else:
        context = multiprocessing.get_context("fork")
        processes = []
        for _ in range(CHILDREN):
            process = context.Process(target=scene.child_job)
            process.start()
            processes.append(process)
            time.sleep(0.003)
        for process in processes:
            process.join(CHILD_ALARM + 10)
            if process.exitcode != 0:
                if process.exitcode is None:
                    process.kill()
                    process.join()
                failures.append(process.exitcode)
    scene.stop.set()
    for thread in threads:
        thread.join(10)
    assert not failures, f"{len(failures)} of {CHILDREN} children failed (exit codes {failures}; -14: hung)"
    print(f"{method}: {CHILDREN} children finished; parent threads ran {scene.rounds} rounds")


@pytest.mark.parametrize("method", ["os.fork", "multiprocessing"])
def test_forked_children_use_the_registries_at_once(method: str) -> None:
    out = run_child("from tests.test_fork import scenario; scenario(sys.argv[1])", hang_after=60, args=(method,))
    assert f"{CHILDREN} children finished" in out, out
