"""Field paths into nested records: `fields.status.name`, `labels[0]`, `customfield_10010`.

A path is parsed once into steps (a key or a list index). Reading a missing step yields MISSING rather
than raising, because records from real systems leave fields out all the time; writing creates the
dictionaries and lists on the way.
"""

from __future__ import annotations

import itertools
import re
from functools import cache
from typing import Any, Final

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


class _Missing:
    """The value of a path that leads nowhere (distinct from an explicit null)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()


class PathError(ValueError):
    """A path that cannot be parsed."""


@cache
def parse_path(path: str) -> tuple[str | int, ...]:
    if not path or path.strip() != path:
        raise PathError(f"{path!r} is not a field path.")
    steps: list[str | int] = []
    position = 0
    for match in _STEP.finditer(path):
        gap = path[position : match.start()]
        if gap not in ("", "."):
            raise PathError(f"{path!r} is not a field path (unexpected {gap!r}).")
        key, index = match.groups()
        steps.append(int(index) if index is not None else key)
        position = match.end()
    if position != len(path) or path.endswith(".") or not steps:
        raise PathError(f"{path!r} is not a field path.")
    return tuple(steps)


def get_path(record: Any, path: str) -> Any:
    node = record
    for step in parse_path(path):
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                return MISSING
            node = node[step]
        else:
            if not isinstance(node, dict) or step not in node:
                return MISSING
            node = node[step]
    return node


def set_path(record: dict[str, Any], path: str, value: Any) -> None:
    steps = parse_path(path)
    node: Any = record
    for step, following in itertools.pairwise(steps):
        container: Any = [] if isinstance(following, int) else {}
        if isinstance(step, int):
            while len(node) <= step:
                node.append(None)
            if not isinstance(node[step], dict | list):
                node[step] = container
            node = node[step]
        else:
            if not isinstance(node.get(step), dict | list):
                node[step] = container
            node = node[step]
    last = steps[-1]
    if isinstance(last, int):
        while len(node) <= last:
            node.append(None)
    node[last] = value
