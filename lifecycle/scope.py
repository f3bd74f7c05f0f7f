"""``registry.bind(owner)``: register on behalf of one owner, then remove it all at once."""

from __future__ import annotations

import weakref
from types import TracebackType
from typing import TYPE_CHECKING

from lifecycle.entries import Callback, not_weakly_referable, weakly_referable
from lifecycle.errors import LifecycleError
from lifecycle.hooks import HookLike

if TYPE_CHECKING:
    from lifecycle.registry import CallbackRegistry


class OwnerScope:
    """Registrations tagged with one owner, removable in one call.

    The scope holds the owner weakly, like the registry does, so keeping a
    scope around never keeps its owner alive. ``close()`` is idempotent;
    ``with registry.bind(obj) as scope:`` closes it on exit.
    """

    def __init__(self, registry: CallbackRegistry, owner: object) -> None:
        if owner is None:
            raise ValueError("bind() needs an owner object, got None")
        if not weakly_referable(owner):
            raise not_weakly_referable(owner, "owner", "bind an instance of a class of your own")
        self._registry = registry
        self._owner = weakref.ref(owner)
        self._closed = False

    @property
    def owner(self) -> object:
        """The owner, or ``None`` once it has been collected."""
        return self._owner()

    @property
    def closed(self) -> bool:
        return self._closed

    def add(self, hook: HookLike, callback: Callback, weak: bool | None = None) -> bool:
        """``registry.add(hook, callback, owner=owner, weak=weak)``."""
        if self._closed:
            raise LifecycleError("this scope is closed: bind the owner again to register more")
        owner = self._owner()
        if owner is None:
            raise LifecycleError("the scope's owner has been garbage collected")
        return self._registry.add(hook, callback, owner=owner, weak=weak)

    def close(self) -> int:
        """Remove everything the owner has in the registry; 0 on later calls."""
        if self._closed:
            return 0
        self._closed = True
        owner = self._owner()
        return 0 if owner is None else self._registry.remove_owner(owner)

    def __enter__(self) -> OwnerScope:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
