"""Router configuration: a dict or a TOML file, validated before anything is built.

The shape follows what LLM gateways use, so a real model list can be pasted:

    integrations = ["metrics", {name = "jsonl", path = "events.jsonl"}]

    [router_settings]
    cooldown_failures = 3      # consecutive failures that cool a deployment down
    cooldown_seconds = 5.0
    seed = 7                   # deployment shuffle and fake provider

    [[model_list]]
    model_name = "gpt-4o"
    litellm_params = { model = "openai/gpt-4o", mock_latency_ms = 2, mock_failure_rate = 0.05 }
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Union

import attrs

from lifecycle._checks import finite_number, int_at_least
from router_demo.errors import ConfigError
from router_demo.integrations import check_integration

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

ConfigSource = Union[Mapping[str, Any], str, "os.PathLike[str]", "RouterConfig"]

_SETTINGS = ("cooldown_failures", "cooldown_seconds", "seed")

#: The longest fake latency a deployment may have: a minute (a larger one is a typo that hangs the demo).
MAX_LATENCY_MS = 60_000.0


@attrs.frozen
class Deployment:
    """One deployment of a model: what the fake provider needs to answer for it."""

    id: str
    model_name: str
    model: str
    latency_ms: float = 0.0
    failure_rate: float = 0.0
    params: Mapping[str, Any] = attrs.field(factory=dict, eq=False)


@attrs.frozen
class RouterConfig:
    """A validated configuration (``load_config`` makes one): what ``RouterHost`` builds a router from."""

    model_list: tuple[Deployment, ...]
    integrations: tuple[str | Mapping[str, Any], ...] = ()
    cooldown_failures: int = 3
    cooldown_seconds: float = 5.0
    seed: int | None = None


def _number(value: object, where: str, low: float, high: float | None = None) -> float:
    number = finite_number(value, where, ConfigError)
    if number < low or (high is not None and number > high):
        bound = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        raise ConfigError(f"{where} must be {bound}, got {value!r}")
    return number


def check_settings(
    cooldown_failures: object, cooldown_seconds: object, seed: object, where: str = ""
) -> tuple[int, float, int | None]:
    """The router's settings, checked: the one home of these rules, for ``load_config`` and ``Router``.

    ``where`` prefixes the names in messages (``"router_settings."`` for a configuration file).
    """
    failures = int_at_least(cooldown_failures, f"{where}cooldown_failures", 1, ConfigError)
    seconds = _number(cooldown_seconds, f"{where}cooldown_seconds", 0)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ConfigError(f"{where}seed must be an int or None, got {seed!r}")
    return failures, seconds, seed


def parse_deployments(model_list: object) -> tuple[Deployment, ...]:
    """Validate a ``model_list`` (a list of ``{"model_name", "litellm_params"}`` dicts)."""
    if not isinstance(model_list, Sequence) or isinstance(model_list, (str, bytes)) or not model_list:
        raise ConfigError(f"model_list must be a non-empty list of deployments, got {model_list!r}")
    deployments = []
    for index, item in enumerate(model_list):
        where = f"model_list[{index}]"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{where} must be a table/dict, got {type(item).__name__}")
        name = item.get("model_name")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}.model_name must be a non-empty string, got {name!r}")
        params = item.get("litellm_params")
        if not isinstance(params, Mapping):
            raise ConfigError(f"{where}.litellm_params must be a table/dict with a 'model' key, got {params!r}")
        model = params.get("model")
        if not isinstance(model, str) or not model:
            raise ConfigError(f"{where}.litellm_params.model must be a non-empty string, got {model!r}")
        latency = _number(
            params.get("mock_latency_ms", 0), f"{where}.litellm_params.mock_latency_ms", 0, MAX_LATENCY_MS
        )
        failure = _number(params.get("mock_failure_rate", 0), f"{where}.litellm_params.mock_failure_rate", 0, 1)
        info = item.get("model_info")
        given_id = info.get("id") if isinstance(info, Mapping) else None
        deployment_id = given_id if isinstance(given_id, str) and given_id else f"{name}/{model}#{index}"
        deployments.append(Deployment(deployment_id, name, model, latency, failure, dict(params)))
    ids = [d.id for d in deployments]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ConfigError(f"deployment ids must be unique, repeated: {duplicates}")
    return tuple(deployments)


def deployments_of(model_list: object) -> tuple[Deployment, ...]:
    """``Deployment`` objects as given (a ``RouterConfig``'s), or parsed from a ``model_list``."""
    if isinstance(model_list, (list, tuple)) and model_list and all(isinstance(d, Deployment) for d in model_list):
        return tuple(model_list)
    return parse_deployments(model_list)


def _parse_integrations(value: object) -> tuple[str | Mapping[str, Any], ...]:
    if value is None:
        return ()
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
        raise ConfigError(f"integrations must be a list of names or tables, got {value!r}")
    for index, item in enumerate(value):
        check_integration(item, f"integrations[{index}]")
    return tuple(value)


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The raw contents of a TOML configuration file; ``ConfigError`` if unreadable."""
    try:
        with Path(path).open("rb") as handle:
            data: dict[str, Any] = tomllib.load(handle)
            return data
    except OSError as error:
        raise ConfigError(f"cannot read the configuration file {str(path)!r}: {error.strerror}") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{str(path)!r} is not valid TOML: {error}") from error


def embedded_config() -> dict[str, Any]:
    """The main job's default configuration (``router_demo/default_config.toml``)."""
    text = resources.files("router_demo").joinpath("default_config.toml").read_text(encoding="utf-8")
    data: dict[str, Any] = tomllib.loads(text)
    return data


def config_data(source: object) -> Mapping[str, Any]:
    """The configuration as data, not yet validated: a dict as given, or a TOML file's contents."""
    if isinstance(source, (str, os.PathLike)):
        return read_toml(source)
    if isinstance(source, Mapping):
        return source
    raise ConfigError(f"a configuration is a dict or a TOML file path, got {type(source).__name__}")


def load_config(source: ConfigSource) -> RouterConfig:
    """A validated ``RouterConfig`` from a dict, a TOML file path, or a ``RouterConfig``."""
    if isinstance(source, RouterConfig):
        return source
    data = config_data(source)
    unknown = sorted(set(data) - {"model_list", "integrations", "router_settings"})
    if unknown:
        raise ConfigError(f"unknown configuration keys {unknown}; expected model_list, integrations, router_settings")
    settings = data.get("router_settings", {})
    if not isinstance(settings, Mapping):
        raise ConfigError(f"router_settings must be a table/dict, got {settings!r}")
    unknown = sorted(set(settings) - set(_SETTINGS))
    if unknown:
        raise ConfigError(f"unknown router_settings {unknown}; expected {sorted(_SETTINGS)}")
    failures, seconds, seed = check_settings(
        settings.get("cooldown_failures", 3),
        settings.get("cooldown_seconds", 5.0),
        settings.get("seed"),
        where="router_settings.",
    )
    return RouterConfig(
        model_list=parse_deployments(data.get("model_list")),
        integrations=_parse_integrations(data.get("integrations")),
        cooldown_failures=failures,
        cooldown_seconds=seconds,
        seed=seed,
    )
