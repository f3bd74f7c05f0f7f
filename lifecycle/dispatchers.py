"""The pure-Python hot paths: ``dispatch`` and ``dispatcher`` with the loop inlined.

``plans`` has one loop per argument count, each a function of its own; the
common dispatch (no ``extra=``, no keywords, zero to four positional
arguments) would go through two Python frames: the entry point, then the
loop. Here the loop is written into the entry point itself, once per
argument count, from the same template (the contract of running an item, and
its ``report_failure`` and ``discard_awaitable``, stay in ``plans``). The
benchmark measured that one frame less at about 45 ns per dispatch on 3.11:
all of the per-call overhead at one receiver, a few percent at ten.

Anything unusual goes to the registry's general ``_dispatch_slow`` (or to
``plans.run_any``), so that every error stays the same. The compiled path
(``lifecycle._speedups``) replaces both when it is built.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any

from lifecycle.plans import LOOP_BODY, LOOP_NAMESPACE, Plan, generate, run_any

#: How many positional arguments get a loop of their own; more go the general way.
INLINED_ARITIES = (1, 2, 0, 3, 4)  # most common first: the branch chain is tested in this order

_DISPATCH = '''
def dispatch(self, hook, *args, extra=(), **kwargs):
    """Call the live callbacks of a sync hook (and ``CALLBACKS`` for success and failure).

    Then the ``extra`` callbacks that are not duplicates of one already
    called. Returns how many callbacks were called.
    """
    if extra or kwargs:
        return self._dispatch_slow(hook, *args, extra=extra, **kwargs)
    try:
        plan = self._sync_plans[hook]
    except (KeyError, TypeError):
        return self._dispatch_slow(hook, *args)
    if plan is None:
        plan = self._rebuild(hook)
    count = len(args)
{loops}
    return run_any(plan, args, kwargs)
'''

_DISPATCHER = '''
def make_dispatcher(plans, key, rebuild, name):
    def fire(*args, **kwargs):
        plan = plans[key]
        if plan is None:
            plan = rebuild(key)
        if kwargs:
            return run_any(plan, args, kwargs)
        count = len(args)
{loops}
        return run_any(plan, args, kwargs)

    fire.__qualname__ = fire.__name__ = name
    return fire
'''


def _loops(indent: int) -> str:
    """The loop of ``plans.LOOP_BODY`` once per inlined arity, as an ``if``/``elif`` chain."""
    parts = []
    for index, arity in enumerate(INLINED_ARITIES):
        names = "".join(f", a{n}" for n in range(arity))
        unpack = f"\n{' ' * (indent + 4)}{names[2:]}, = args" if arity else ""
        header = f"{' ' * indent}{'if' if index == 0 else 'elif'} count == {arity}:{unpack}\n"
        parts.append(header + textwrap.indent(LOOP_BODY.format(args=names), " " * (indent + 4)))
    return "".join(parts)


#: The file name of the generated ``dispatch`` and dispatchers.
DISPATCHERS_FILENAME = "<lifecycle generated dispatchers>"


def _generate() -> tuple[Callable[..., int], Callable[..., Callable[..., int]]]:
    source = _DISPATCH.format(loops=_loops(4)) + _DISPATCHER.format(loops=_loops(8))
    namespace = generate(source, DISPATCHERS_FILENAME, {**LOOP_NAMESPACE, "run_any": run_any})
    return namespace["dispatch"], namespace["make_dispatcher"]


#: ``CallbackRegistry.dispatch`` on the pure path (``self._dispatch_slow`` is the general one).
#: ``pure_dispatcher(plans, hook, rebuild, name)``: what ``registry.dispatcher(hook)`` returns there.
pure_dispatch, pure_dispatcher = _generate()


def run(plan: Plan, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    """Run a plan on the pure path, as the dispatchers do (for tests and tools)."""
    fire = pure_dispatcher({None: plan}, None, _never, "run")
    return fire(*args, **kwargs)


def _never(key: object) -> Plan:
    raise AssertionError("a plan given to run() is never missing")
