"""What the router raises.

``RouterError`` is the router's own base, apart from ``lifecycle.LifecycleError``:
a router configuration error is not an error of the callback registry.
"""


class RouterError(Exception):
    """Base class of the router's errors."""


class ConfigError(RouterError, ValueError):
    """A configuration that cannot be loaded or does not validate; says which field and why."""


class UnknownModelError(RouterError, LookupError):
    """No deployment serves the requested model name."""


class RouterClosedError(RouterError, RuntimeError):
    """The router was closed (a hot reload replaced it); use the host's current router."""


class HostClosedError(RouterClosedError):
    """The ``RouterHost`` was closed: it reloads nothing more; build a new one."""


class ProviderError(RouterError):
    """The (fake) provider failed the call, like an HTTP 5xx from a real one."""


class NoHealthyDeploymentError(RouterError):
    """Every deployment of the model is cooling down after repeated failures."""
