"""The exceptions ``lifecycle`` raises on purpose."""


class LifecycleError(Exception):
    """Base class of every error this library raises on purpose."""


class CallbackLimitError(LifecycleError):
    """A hook already holds ``max_callbacks`` entries and ``on_limit="raise"``."""


class UnknownIntegrationError(LifecycleError, LookupError):
    """A name that the integration catalog does not know."""
