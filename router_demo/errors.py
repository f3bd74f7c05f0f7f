"""What the router raises."""

from lifecycle import LifecycleError


class RouterError(LifecycleError):
    """Base class of the router's errors."""


class ConfigError(RouterError, ValueError):
    """A configuration that cannot be loaded or does not validate; says which field and why."""


class UnknownModelError(RouterError, LookupError):
    """No deployment serves the requested model name."""


class RouterClosedError(RouterError, RuntimeError):
    """The router was closed (a hot reload replaced it); use the host's current router."""


class ProviderError(RouterError):
    """The (fake) provider failed the call, like an HTTP 5xx from a real one."""


class NoHealthyDeploymentError(RouterError):
    """Every deployment of the model is cooling down after repeated failures."""
