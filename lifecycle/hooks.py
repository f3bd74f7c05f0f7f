"""The lifecycle hooks a call goes through, and how a caller may name them."""

from __future__ import annotations

import enum


class Hook(str, enum.Enum):
    """A point in a call's life at which callbacks fire.

    A ``str`` subclass so that a member and its value are the same dictionary
    key: the registry looks a hook up once, whichever of the two it was given.
    """

    INPUT = "input"
    SUCCESS = "success"
    FAILURE = "failure"
    ASYNC_SUCCESS = "async_success"
    ASYNC_FAILURE = "async_failure"
    SERVICE = "service"
    CALLBACKS = "callbacks"

    def __str__(self) -> str:
        return self.value


HookLike = Hook | str

#: The hooks ``dispatch`` (synchronous) accepts.
SYNC_HOOKS = frozenset({Hook.INPUT, Hook.SUCCESS, Hook.FAILURE, Hook.SERVICE})

#: Dispatching one of these also runs the ``CALLBACKS`` entries.
RUNS_GENERIC_CALLBACKS = frozenset(
    {Hook.SUCCESS, Hook.FAILURE, Hook.ASYNC_SUCCESS, Hook.ASYNC_FAILURE}
)

_BY_VALUE = {member.value: member for member in Hook}
_VALID = ", ".join(repr(value) for value in _BY_VALUE)


def as_hook(hook: object) -> Hook:
    """Return the ``Hook`` for a member or its string value, or raise ``ValueError``."""
    if isinstance(hook, Hook):
        return hook
    if isinstance(hook, str):
        found = _BY_VALUE.get(hook)
        if found is not None:
            return found
    raise ValueError(f"unknown hook {hook!r}: expected a lifecycle.Hook or one of {_VALID}")
