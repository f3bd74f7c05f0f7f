"""A realistic LLM router built on ``lifecycle``: deployments, a fake provider, hot reload.

``python -m router_demo`` runs the main job: a simulated long-lived gateway
that reloads its router hundreds of times and shows that nothing leaks
(``--leaky`` shows the classic mistake, and what holds the leaked routers).
"""

from router_demo.config import Deployment, RouterConfig, load_config
from router_demo.errors import (
    ConfigError,
    HostClosedError,
    NoHealthyDeploymentError,
    ProviderError,
    RouterClosedError,
    RouterError,
    UnknownModelError,
)
from router_demo.host import INTEGRATION_HOOKS, RouterHost
from router_demo.integrations import ConsoleLogger, JsonlLogger, MetricsLogger
from router_demo.provider import FakeProvider
from router_demo.router import CallContext, DeploymentStats, Router, ServiceEvent

__all__ = [
    "INTEGRATION_HOOKS",
    "CallContext",
    "ConfigError",
    "ConsoleLogger",
    "Deployment",
    "DeploymentStats",
    "FakeProvider",
    "HostClosedError",
    "JsonlLogger",
    "MetricsLogger",
    "NoHealthyDeploymentError",
    "ProviderError",
    "Router",
    "RouterClosedError",
    "RouterConfig",
    "RouterError",
    "RouterHost",
    "ServiceEvent",
    "UnknownModelError",
    "load_config",
]
