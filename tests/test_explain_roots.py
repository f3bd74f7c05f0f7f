"""A leak reached at the same depth from a module and from one of the check's callables names the module.

Which of the two the collector lists first differs between Python versions
(3.13 listed the function first), so the test tries both orders.
"""

from __future__ import annotations

import gc
import sys
import types
from collections.abc import Callable, Iterator

import pytest

from leakcheck import explain
from leakcheck.explain import ReferenceIndex, render


class Held:
    pass


@pytest.fixture
def module() -> Iterator[types.ModuleType]:
    """A module holding a leaked object in a global list."""
    module = types.ModuleType("leaky_module")
    module.HELD = [Held()]  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    yield module
    del sys.modules[module.__name__]


@pytest.mark.parametrize("order", [list, lambda found: list(reversed(found))], ids=["as listed", "reversed"])
def test_a_module_global_is_named_rather_than_a_function_that_sees_the_same_globals(
    module: types.ModuleType, order: Callable[[list[object]], list[object]], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = gc.get_referrers
    monkeypatch.setattr(explain.gc, "get_referrers", lambda *objects: order(real(*objects)))
    build = types.FunctionType((lambda: None).__code__, module.__dict__, "build")  # sees the module's globals
    index = ReferenceIndex(named_roots={"build": build})
    chain = index.chain_to(module.HELD[0])  # type: ignore[attr-defined]
    assert chain is not None
    assert render(chain, index.root_names).startswith("leaky_module.HELD[0] -> ")
