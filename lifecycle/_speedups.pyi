"""The optional C accelerator of dispatch (see lifecycle/_speedups.c and lifecycle/_accel.py)."""

from collections.abc import Callable
from typing import Any

def configure(
    unresolved: type[BaseException],
    report_failure: Callable[[Callable[..., Any], object, Exception], None],
    discard_awaitable: Callable[[Callable[..., Any], object, object], None],
) -> None: ...
def run(
    plan: tuple[tuple[Callable[..., Any], Callable[[], Any]], ...],
    args: tuple[Any, ...],
    kwargs: dict[str, Any] | None,
) -> int: ...

class dispatcher:
    @property
    def hook(self) -> object: ...
    @property
    def __name__(self) -> str: ...
    @property
    def __qualname__(self) -> str: ...
    def __init__(self, plans: dict[Any, Any], key: object, rebuild: Callable[[Any], Any], name: str) -> None: ...
    def __call__(self, *args: Any, **kwargs: Any) -> int: ...

class DispatchBase:
    _sync_plans: dict[Any, Any]  # an ordinary instance attribute, read by dispatch()
    def dispatch(self, hook: Any, /, *args: Any, **kwargs: Any) -> int: ...
