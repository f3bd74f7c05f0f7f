"""``python -m router_demo``: exit codes and the JSON summary, in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "router_demo", *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT
    )


def test_the_main_job_is_clean_and_says_so(tmp_path: Path) -> None:
    out = tmp_path / "summary.json"
    result = run("--reloads", "60", "--threads", "2", "--json", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "router_demo (clean): CLEAN" in result.stdout
    summary = json.loads(out.read_text())
    assert summary["clean"] is True and summary["mode"] == "clean"
    assert summary["routers_alive"] == 1 and summary["routers_built"] == 61
    assert summary["callbacks_start"] == summary["callbacks_end"]
    assert summary["reload_errors"] == 0 and summary["requests_ok"] > 0
    assert summary["callbacks_refused"] == 0 and summary["lifecycle_log"] == {"ERROR": 0, "WARNING": 0}
    assert summary["swap"]["entries_removed"] == 3 and summary["swap"]["at_reload"] == 30
    assert summary["leakcheck"]["leaked"] is False
    assert result.stderr == ""  # no progress bar and no warnings when not on a terminal


def test_leaky_shows_the_leak_and_exits_1(tmp_path: Path) -> None:
    out = tmp_path / "summary.json"
    result = run("--leaky", "--reloads", "45", "--threads", "1", "--json", str(out))
    assert result.returncode == 1, result.stdout + result.stderr
    summary = json.loads(out.read_text())
    assert summary["clean"] is False and summary["mode"] == "leaky"
    assert summary["callbacks_end"]["success"] == 30 > summary["callbacks_start"]["success"]
    assert summary["routers_alive"] == 31 and summary["callbacks_refused"] > 0
    report = summary["leakcheck"]
    assert report["leaked"] is True
    chains = [e["chain"] for group in report["survivors"] for e in group["examples"] if e["chain"]]
    assert any(".function -> bound method Router._on_" in chain and "__self__" in chain for chain in chains)
    assert "held by:" in result.stdout
    # the limit warnings reach stderr, the first 3 of them; the summary counts them all
    assert 1 <= result.stderr.count("max_callbacks=30") <= 3
    assert summary["lifecycle_log"]["WARNING"] == summary["callbacks_refused"]


def test_config_file_and_usage_errors(tmp_path: Path) -> None:
    config = tmp_path / "router.toml"
    config.write_text(
        'integrations = ["metrics"]\n'
        '[[model_list]]\nmodel_name = "m"\nlitellm_params = { model = "p/m" }\n'
    )
    assert run("--config", str(config), "--reloads", "20", "--threads", "1").returncode == 0
    broken = tmp_path / "broken.toml"
    broken.write_text('[[model_list]]\nmodel_name = ""\n')
    result = run("--config", str(broken))
    assert result.returncode == 2 and "model_list[0].model_name" in result.stderr
    result = run("--reloads", "3")
    assert result.returncode == 2 and "reloads must be" in result.stderr
    assert run("--bogus").returncode == 2


MODEL = '[[model_list]]\nmodel_name = "m"\nlitellm_params = { model = "p/m" }\n'


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('integrations = ["nosuch"]\n' + MODEL, "integrations[0]: no integration named 'nosuch'"),
        ('integrations = [{ name = "metrics", colour = "red" }]\n' + MODEL, "unknown option 'colour' for 'metrics'"),
        ('integrations = [{ name = "jsonl" }]\n' + MODEL, "'jsonl' needs the option 'path'"),
        ('integrations = [{ name = "jsonl", path = "{missing}" }]\n' + MODEL, "integration 'jsonl' cannot start"),
        (MODEL.replace('"p/m"', '"p/m", mock_latency_ms = inf'), "mock_latency_ms must be a finite number"),
        ("[router_settings]\ncooldown_seconds = nan\n" + MODEL, "cooldown_seconds must be a finite number"),
        (MODEL.replace('"p/m"', '"p/m", mock_failure_rate = nan'), "mock_failure_rate must be a finite number"),
    ],
)
def test_configuration_errors_are_one_line_and_exit_2(tmp_path: Path, toml: str, message: str) -> None:
    config = tmp_path / "router.toml"
    config.write_text(toml.replace("{missing}", str(tmp_path / "missing" / "events.jsonl")))
    result = run("--config", str(config), "--reloads", "20", "--threads", "1", timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("router_demo: ") and result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr and result.stdout == ""


def test_a_configuration_without_integrations_runs_clean(tmp_path: Path) -> None:
    config = tmp_path / "router.toml"
    config.write_text(MODEL)
    result = run("--config", str(config), "--reloads", "20", "--threads", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "integration swap        skipped: the configuration has no metrics integration" in result.stdout
