"""Callback lifecycle hooks that never keep their subscribers alive.

Bound methods are held weakly and tagged with their owner; when an owner
dies, its callbacks leave every hook on their own. See ``CallbackRegistry``.
"""

from lifecycle._accel import COMPILED
from lifecycle.catalog import Catalog, catalog
from lifecycle.errors import BadIntegrationError, CallbackLimitError, LifecycleError, UnknownIntegrationError
from lifecycle.hooks import Hook
from lifecycle.integrations import CustomLogger, callback_key
from lifecycle.registry import CallbackRegistry, default_registry
from lifecycle.scope import OwnerScope
from lifecycle.stats import RegistryStats

__all__ = [
    "COMPILED",
    "BadIntegrationError",
    "CallbackLimitError",
    "CallbackRegistry",
    "Catalog",
    "CustomLogger",
    "Hook",
    "LifecycleError",
    "OwnerScope",
    "RegistryStats",
    "UnknownIntegrationError",
    "callback_key",
    "catalog",
    "default_registry",
]
