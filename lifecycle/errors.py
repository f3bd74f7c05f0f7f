"""The exceptions ``lifecycle`` raises on purpose."""


class LifecycleError(Exception):
    """Base class of every error this library raises on purpose."""


class CallbackLimitError(LifecycleError):
    """A hook already holds ``max_callbacks`` entries and ``on_limit="raise"``."""


class UnknownIntegrationError(LifecycleError, LookupError):
    """A name that the integration catalog does not know."""


class BadIntegrationError(LifecycleError, TypeError):
    """A catalog factory returned something that is not a ``CustomLogger``: a configuration error of that name."""
