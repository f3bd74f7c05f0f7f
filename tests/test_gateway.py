"""The main job: it never rewrites the configuration, and what goes wrong reaches the user.

Runs of the gateway start threads, so each runs in a subprocess with a timeout.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lifecycle import CallbackRegistry, CustomLogger
from router_demo import ConfigError
from router_demo.gateway import run_gateway

ROOT = Path(__file__).resolve().parent.parent

_SCRIPT = """
import copy, json, logging, sys
from lifecycle import CallbackRegistry, catalog
import router_demo.gateway as gateway
from router_demo.gateway import run_gateway
from tests.test_gateway import Failing

catalog.register("gateway-tests-failing", Failing)
records = []

class Keep(logging.Handler):
    def emit(self, record):
        records.append({"name": record.name, "level": record.levelname, "message": record.getMessage(),
                        "traceback": record.exc_info is not None})

logging.getLogger().addHandler(Keep())
logging.getLogger().setLevel(logging.WARNING)
args = json.loads(sys.argv[1])
config = args.pop("config")
given = copy.deepcopy(config)
registry = CallbackRegistry(max_callbacks=args.pop("max_callbacks"), name="gateway-tests")
judged = []  # the configuration that the leakcheck verdict reloads
verdict = gateway._verdict
gateway._verdict = lambda source, *rest: judged.append(copy.deepcopy(source)) or verdict(source, *rest)
try:
    summary = run_gateway(config, registry=registry, threads=1, pause=0.0, **args)
except (TypeError, ValueError) as error:
    print(json.dumps({"error": type(error).__name__, "message": str(error), "entries": len(registry)}))
    sys.exit(0)
lifecycle = logging.getLogger("lifecycle")
print(json.dumps({"summary": summary.as_dict(), "refused": registry.stats().refused, "records": records,
                  "unchanged": config == given, "judged": judged == [given], "propagate": lifecycle.propagate,
                  "filters": len(lifecycle.filters)}, default=str))
"""


class Failing(CustomLogger):
    """An integration whose backend is down: every success event raises."""

    def log_success_event(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the metrics backend is down")


def run(config: dict[str, Any], *, reloads: int = 20, max_callbacks: int = 30) -> dict[str, Any]:
    """``run_gateway`` in a subprocess: its summary, the log records it left, and whether ``config`` changed
    (or the ``TypeError``/``ValueError`` it raised, and the registry's size after it)."""
    arguments = json.dumps({"config": config, "reloads": reloads, "max_callbacks": max_callbacks})
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT, arguments], capture_output=True, text=True, timeout=120, cwd=ROOT, env=env
    )
    assert result.returncode == 0, result.stderr
    outcome: dict[str, Any] = json.loads(result.stdout)
    return outcome


def config(*, failure: float = 0.0, **extra: Any) -> dict[str, Any]:
    return {
        "model_list": [
            {"model_name": "a", "litellm_params": {"model": "p/a", "mock_failure_rate": failure}},
            {"model_name": "b", "litellm_params": {"model": "p/b", "mock_failure_rate": failure}},
        ],
        **extra,
    }


def test_a_configuration_without_integrations_runs_and_says_the_swap_was_skipped() -> None:
    summary = run(config())["summary"]
    assert summary["clean"] and summary["routers_alive"] == 1
    assert "no metrics integration" in summary["swap"]["skipped"]


def test_the_callers_configuration_is_never_changed() -> None:
    outcome = run(config(integrations=["metrics", "console"], router_settings={"seed": 3}))
    assert outcome["unchanged"] and outcome["judged"]  # the verdict judges the configuration as given
    assert outcome["summary"]["swap"]["entries_removed"] == 3 and outcome["summary"]["clean"]


def test_the_configured_failure_rates_are_the_ones_served() -> None:
    summary = run(config(failure=0.0, integrations=["metrics"]), reloads=40)["summary"]
    assert summary["requests_ok"] > 0
    assert summary["requests_failed"] == 0  # no reload variant raises a configured rate


def test_deployment_ids_given_in_the_configuration_survive_the_canary_reloads() -> None:
    given = config()
    given["model_list"][0]["model_info"] = {"id": "primary"}
    assert run(given)["summary"]["clean"]


def test_callback_failures_during_the_run_are_counted_and_reach_the_log() -> None:
    outcome = run(config(integrations=["gateway-tests-failing"]))
    assert outcome["summary"]["lifecycle_log"]["ERROR"] > 3  # every failing dispatch is counted ...
    shown = [r for r in outcome["records"] if r["name"] == "lifecycle" and r["level"] == "ERROR"]
    assert 1 <= len(shown) <= 3  # ... and the first ones reach the user's log, with their traceback
    assert all(r["traceback"] and "Failing.log_success_event" in r["message"] for r in shown)
    assert outcome["propagate"] and outcome["filters"] == 0  # the logger is left as it was


def test_refusals_at_the_limit_are_counted_from_the_registry_stats() -> None:
    outcome = run(config(integrations=["metrics"]), max_callbacks=1)  # room for the router or the integration
    summary = outcome["summary"]
    assert summary["callbacks_refused"] > 0 and summary["callbacks_refused"] == outcome["refused"]
    assert summary["lifecycle_log"]["WARNING"] == summary["callbacks_refused"]
    assert 1 <= len([r for r in outcome["records"] if r["name"] == "lifecycle"]) <= 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"reloads": 19}, "reloads must be an int >= 20"),
        ({"reloads": True}, "reloads must be an int >= 20"),
        ({"threads": 0}, "threads must be an int >= 1"),
        ({"pause": math.nan}, "pause must be a finite number"),
        ({"pause": -1.0}, "pause must be at least 0"),
    ],
)
def test_run_arguments_are_checked_before_anything_starts(kwargs: dict[str, Any], message: str) -> None:
    registry = CallbackRegistry()
    with pytest.raises(ValueError, match=message):
        run_gateway(config(), registry=registry, **kwargs)
    assert len(registry) == 0


def test_a_bad_configuration_stops_before_the_run() -> None:
    infinite = {"model_list": [{"model_name": "a", "litellm_params": {"model": "p", "mock_latency_ms": math.inf}}]}
    outcome = run(infinite)  # an infinite latency used to hang the first request for ever
    assert outcome["error"] == "ConfigError" and "mock_latency_ms must be a finite number" in outcome["message"]
    assert outcome["entries"] == 0
    with pytest.raises(ConfigError, match="a configuration is a dict or a TOML file path"):
        run_gateway(42, registry=CallbackRegistry())  # type: ignore[arg-type]


def test_a_registry_that_is_not_one_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"registry must be a lifecycle\.CallbackRegistry or None, got str"):
        run_gateway(config(), registry="default")  # type: ignore[arg-type]
