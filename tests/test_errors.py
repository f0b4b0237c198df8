"""One exception tree: every exception class of the engine is drawn in engine/errors.py's docstring, under the
parent it really has, and is a ClawOpsError (except the few internal ones the docstring names as such)."""

from __future__ import annotations

import importlib
import pkgutil
import re

import engine
import engine.errors
import engine.providers.errors
from engine.errors import ClawOpsError


def _drawn(doc: str) -> dict[str, str | None]:
    """Class name -> parent name, read from the box-drawing tree of a docstring."""
    parents: dict[str, str | None] = {}
    stack: list[tuple[int, str]] = []
    for line in doc.splitlines():
        match = re.match(r"^ {4}([ │]*)(?:[├└]── )?([A-Z][A-Za-z]+)\b", line)
        if match is None:
            continue
        depth = len(match.group(1)) // 4 + (1 if "── " in line else 0)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parents[match.group(2)] = stack[-1][1] if stack else None
        stack.append((depth, match.group(2)))
    return parents


def _engine_exceptions() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(engine.__path__, "engine."):
        if ".migrations" in info.name or info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, BaseException) and value.__module__.startswith("engine."):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return list(found.values())


def test_every_engine_exception_is_drawn_where_it_sits() -> None:
    doc = engine.errors.__doc__ or ""
    tree = _drawn(engine.providers.errors.__doc__ or "") | _drawn(doc)  # the vendors' subtree, then the trunk
    internal = doc[doc.index("Not in the tree") :]
    classes = _engine_exceptions()
    assert len(classes) > 20
    for cls in classes:
        if cls.__name__ in internal:
            continue
        assert issubclass(cls, ClawOpsError), f"{cls.__module__}.{cls.__name__} is outside the ClawOpsError tree"
        assert cls.__name__ in tree, f"{cls.__name__} is not drawn in engine/errors.py's docstring"
        parent = None if cls is ClawOpsError else cls.__mro__[1].__name__
        assert tree[cls.__name__] == parent, f"{cls.__name__} is drawn under {tree[cls.__name__]}, not {parent}"
