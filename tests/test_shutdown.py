"""Interpreter shutdown with live owners, cycles and threads prints nothing on stderr."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SCENARIOS = {
    "owners alive at exit": """
        from lifecycle import CallbackRegistry

        default_registry = CallbackRegistry(max_callbacks=1000)

        class Owner:
            def on(self, *a): pass

        owners = [Owner() for _ in range(100)]
        for o in owners:
            default_registry.add("success", o.on)
            default_registry.add("input", print, owner=o)
        default_registry.dispatch("success", 1)
    """,
    "owners in cycles with the registry": """
        from lifecycle import CallbackRegistry

        class Owner:
            def __init__(self, registry):
                self.registry = registry
                self.me = self
                registry.add("success", self.on)
                registry.add("failure", self.on)
            def on(self, *a): pass

        registry = CallbackRegistry(max_callbacks=1000)
        registry.owner = [Owner(registry) for _ in range(200)]
        registry.dispatch("success")
    """,
    "a dispatching thread at exit": """
        import threading
        from lifecycle import CallbackRegistry

        default_registry = CallbackRegistry(max_callbacks=1_000_000)

        class Owner:
            def __init__(self):
                self.me = self
            def on(self, *a): pass

        def churn():
            while True:
                o = Owner()
                default_registry.add("success", o.on)
                default_registry.dispatch("success", 1)

        threading.Thread(target=churn, daemon=True).start()
        import time; time.sleep(0.2)
    """,
    "integrations and scopes": """
        from lifecycle import CustomLogger, catalog, default_registry

        class Log(CustomLogger):
            def log_success_event(self, *a): pass

        catalog.register("log", Log)
        default_registry.add("success", "log")
        default_registry.dispatch("success")

        class Owner:
            def on(self, *a): pass

        keep = Owner()
        scope = default_registry.bind(keep)
        scope.add("success", keep.on)
    """,
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_shutdown_prints_nothing(name: str) -> None:
    result = subprocess.run(
        [sys.executable, "-X", "dev", "-c", textwrap.dedent(SCENARIOS[name])],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
