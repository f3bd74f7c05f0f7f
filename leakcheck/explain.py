"""Who holds a leaked object: the shortest reference chain from a root, as text.

A root is a module in ``sys.modules`` or a frame running on some thread.
The search builds a reverse reference index once (one pass over the
collector's objects), then walks backwards breadth-first from each example,
so explaining several objects costs one heap pass, not one per hop. Every hop
is labelled with how the parent refers to the child: a global's name, an
attribute, a dict key, a list index, a closure variable, ``__defaults__``,
``__self__``, a frame's local variable, ``tb_frame``...
"""

from __future__ import annotations

import collections
import enum
import gc
import sys
import tracemalloc
import types
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

_PACKAGE_DIR = __file__.rsplit("/", 1)[0]
_MAX_DEPTH = 40


def _is_own_frame(obj: object) -> bool:
    return isinstance(obj, types.FrameType) and obj.f_code.co_filename.startswith(_PACKAGE_DIR)


def describe(obj: object) -> str:
    """A short name for an object in a chain."""
    if isinstance(obj, types.ModuleType):
        return f"module {obj.__name__}"
    if isinstance(obj, types.MethodType):
        owner = obj.__self__
        owner_name = owner.__qualname__ if isinstance(owner, type) else type(owner).__qualname__
        return f"bound method {owner_name}.{getattr(obj.__func__, '__name__', '?')}"
    if isinstance(obj, types.FunctionType):
        return f"function {obj.__module__}.{obj.__qualname__}"
    if isinstance(obj, types.FrameType):
        return f"frame of {obj.f_code.co_name} ({obj.f_code.co_filename}:{obj.f_lineno})"
    if isinstance(obj, types.TracebackType):
        return "traceback"
    if isinstance(obj, types.CellType):
        return "cell"
    if isinstance(obj, type):
        return f"class {obj.__module__}.{obj.__qualname__}"
    if isinstance(obj, (list, dict, tuple, set, frozenset, collections.deque)):
        return f"{type(obj).__name__} of {len(obj)}"
    return type(obj).__qualname__


def _class_dict(cls: type) -> object:
    referents = gc.get_referents(vars(cls))  # the mappingproxy refers to the real dict
    return referents[0] if referents else None


def _owner_dict(obj: object) -> object:
    """The ``__dict__`` that ``obj`` keeps its attributes in, if any."""
    if isinstance(obj, type):
        return _class_dict(obj)
    try:
        return object.__getattribute__(obj, "__dict__")
    except (AttributeError, TypeError):
        return None


def _key_text(key: object) -> str:
    if isinstance(key, enum.Enum):
        return f"{type(key).__name__}.{key.name}"
    text = repr(key)
    return text if len(text) <= 60 else text[:57] + "..."


def _edge(parent: object, child: object) -> str:
    """How ``parent`` refers to ``child``: ``.name``, ``[3]``, ``['key']``, or a word."""
    if isinstance(parent, types.ModuleType):
        return "" if child is parent.__dict__ else "referent"
    if isinstance(parent, dict):
        for key, value in parent.items():
            if value is child:
                return f"[{_key_text(key)}]"
        for key in parent:
            if key is child:
                return "key"
        return "referent"
    if isinstance(parent, (list, tuple, collections.deque)):
        for index, value in enumerate(parent):
            if value is child:
                return f"[{index}]"
        return "referent"
    if isinstance(parent, (set, frozenset)):
        return "item"
    if isinstance(parent, types.MethodType):
        return "__self__" if parent.__self__ is child else "__func__"
    if isinstance(parent, types.FunctionType):
        for name in ("__defaults__", "__kwdefaults__", "__closure__", "__globals__", "__dict__"):
            if getattr(parent, name) is child:
                return name
        return "referent"
    if isinstance(parent, types.CellType):
        return "cell_contents"
    if isinstance(parent, types.FrameType):
        if parent.f_back is child:
            return "f_back"
        for name, value in parent.f_locals.items():
            if value is child:
                return f"local variable {name!r}"
        return "referent"
    if isinstance(parent, types.TracebackType):
        return "tb_frame" if parent.tb_frame is child else "tb_next"
    if isinstance(parent, BaseException):
        for name in ("__traceback__", "__context__", "__cause__", "args"):
            if getattr(parent, name, None) is child:
                return name
        return "referent"
    attributes = _owner_dict(parent)
    if attributes is child:
        return "__dict__"
    if isinstance(attributes, dict):  # 3.11+ instances refer to attribute values directly
        for name, value in attributes.items():
            if value is child:
                return f".{name}"
    for klass in type(parent).__mro__:
        slots = klass.__dict__.get("__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            try:
                if object.__getattribute__(parent, name) is child:
                    return f".{name}"
            except AttributeError:
                continue
    if getattr(parent, "__self__", None) is child:  # a builtin method or method-wrapper
        return "__self__"
    if type(parent).__name__ == "_lru_cache_wrapper":
        return "lru_cache entry"  # its linked cache entries are not objects of their own
    return "referent"


def _closure_name(function: types.FunctionType, cell: object) -> str | None:
    for name, candidate in zip(function.__code__.co_freevars, function.__closure__ or (), strict=False):
        if candidate is cell:
            return name
    return None


def _hops(chain: Sequence[object]) -> list[tuple[str, object]]:
    """``(label, child)`` for each hop, with the well-known patterns merged into one hop.

    ``x -> __dict__ -> ['name']`` becomes ``.name``; ``function -> __closure__ ->
    [i] -> cell_contents`` becomes ``closure variable 'name'``.
    """
    hops: list[tuple[str, object]] = []
    index = 1
    while index < len(chain):
        parent, child = chain[index - 1], chain[index]
        label = _edge(parent, child)
        if label in ("", "__dict__") and index + 1 < len(chain):
            key = _edge(child, chain[index + 1])
            if key.startswith("['") and key.endswith("']"):
                hops.append(("." + key[2:-2], chain[index + 1]))
                index += 2
                continue
        if (
            label == "__closure__"
            and isinstance(parent, types.FunctionType)
            and index + 2 < len(chain)
            and isinstance(chain[index + 1], types.CellType)
        ):
            hops.append((f"closure variable {_closure_name(parent, chain[index + 1])!r}", chain[index + 2]))
            index += 3
            continue
        hops.append((label, child))
        index += 1
    return hops


def render(chain: Sequence[object], root_names: Mapping[int, str] | None = None) -> str:
    """``mymodule.CALLBACKS[3] -> bound method Router.on_success -> __self__ -> Router``.

    Attribute and item hops extend one expression (``a.b[3].c``); any other
    hop is written ``-> label -> what it reaches``.
    """
    first = chain[0]
    if root_names and id(first) in root_names:
        text = f"{root_names[id(first)]} ({describe(first)})"
    else:
        text = first.__name__ if isinstance(first, types.ModuleType) else describe(first)
    hops = _hops(chain)
    for position, (label, child) in enumerate(hops):
        last = position == len(hops) - 1
        continues = not last and hops[position + 1][0].startswith((".", "["))
        if label.startswith((".", "[")):
            text += label if continues else f"{label} -> {describe(child)}"
        elif label.isidentifier() and continues:
            text += f" -> {label}"  # an attribute such as __defaults__ or args: ".. -> args[0]"
        else:
            text += f" -> {label} -> {describe(child)}"
    return text


def allocation_site(obj: object) -> str | None:
    """``file:line`` where ``obj`` was allocated, if ``tracemalloc`` traced it.

    Best effort: on CPython 3.11 ``get_object_traceback`` finds nothing for
    instances whose attributes live inline (most plain class instances), and an
    object reused from a free list reports where it was first allocated.
    """
    if not tracemalloc.is_tracing():
        return None
    trace = tracemalloc.get_object_traceback(obj)
    if trace is None:
        return None
    frame = trace[-1]  # frames run from the oldest to the most recent
    return f"{frame.filename}:{frame.lineno}"


def _referents(obj: object) -> list[Any]:
    """What ``obj`` refers to, a running frame's locals included."""
    if isinstance(obj, types.FrameType):
        return [*gc.get_referents(obj), *obj.f_locals.values()]
    return gc.get_referents(obj)


class ReferenceIndex:
    """Finds shortest chains from the roots, one batched ``gc.get_referrers`` per level.

    Breadth-first backwards from the target: each level asks the collector
    for the referrers of the whole frontier at once, so a chain of depth d
    costs d heap passes in C, whatever the number of objects on the way.
    """

    def __init__(self, ignore: Iterable[object] = (), named_roots: Mapping[str, object] | None = None) -> None:
        gc.collect()
        self._ignored = {id(obj) for obj in ignore}
        self._roots = {id(m) for m in list(sys.modules.values()) if isinstance(m, types.ModuleType)}
        # A running frame does not show its locals to the collector (CPython 3.11 traverses
        # only the frames it owns), so their locals are indexed here: value id -> frame.
        self._held_by_frame: dict[int, types.FrameType] = {}
        for frame in sys._current_frames().values():
            walker: types.FrameType | None = frame
            while walker is not None:
                if not _is_own_frame(walker):
                    self._roots.add(id(walker))
                    snapshot = walker.f_locals
                    self._ignored.add(id(snapshot))
                    for value in snapshot.values():
                        self._held_by_frame.setdefault(id(value), walker)
                walker = walker.f_back
        self._ignored.update((id(self._held_by_frame), id(self._ignored)))
        #: Extra roots with a name of their own, such as the check's ``build`` callable.
        self.root_names = {id(obj): name for name, obj in (named_roots or {}).items()}
        self._roots.update(self.root_names)

    def _root_rank(self, root: object) -> tuple[bool, bool]:
        """Among roots that reach a leak at the same depth, a module first, a named callable last.

        The collector lists referrers in an order that differs between Python
        versions; without a rule, ``build -> __globals__['CALLBACKS']`` could be
        shown on one and ``module.CALLBACKS`` on another for the same leak.
        """
        return id(root) in self.root_names, not isinstance(root, types.ModuleType)

    def chain_to(self, target: object, max_depth: int = _MAX_DEPTH, max_width: int = 20_000) -> list[object] | None:
        """The shortest chain ``[root, ..., target]``, or ``None`` when no root holds it."""
        parents: dict[int, int | None] = {id(target): None}
        nodes: dict[int, object] = {id(target): target}
        frontier: list[object] = [target]
        for _ in range(max_depth):
            if not frontier:
                return None
            wanted = {id(obj) for obj in frontier}
            referrers = gc.get_referrers(*frontier)
            referrers.extend(self._held_by_frame[key] for key in wanted if key in self._held_by_frame)
            local = {id(referrers), id(frontier), id(nodes), id(parents), id(wanted)}
            next_frontier: list[object] = []
            found: list[object] = []
            for referrer in referrers:
                key = id(referrer)
                if key in parents or key in self._ignored or key in local or _is_own_frame(referrer):
                    continue
                child = next((c for c in _referents(referrer) if id(c) in wanted), None)
                if child is None:
                    continue
                parents[key] = id(child)
                nodes[key] = referrer
                if key in self._roots:
                    found.append(referrer)
                    continue
                if len(next_frontier) < max_width:
                    next_frontier.append(referrer)
            del referrers
            if found:
                best = min(found, key=self._root_rank)
                chain = [best]
                cursor = parents[id(best)]
                while cursor is not None:
                    chain.append(nodes[cursor])
                    cursor = parents[cursor]
                return chain
            frontier = next_frontier
        return None
