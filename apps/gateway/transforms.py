"""Declarative transforms a client configures for its action calls: rename, select, default, JMESPath.

A client's `request_transform` and `response_transform` map an action name (`<provider>.<action>`) or
`*` to a list of steps, applied in order to the JSON document:

    {"*": [{"rename": {"ticket.title": "summary"}},
           {"default": {"priority": "normal"}},
           {"select": ["summary", "priority"]},
           {"jmespath": "{fields: @}"}]}

- `rename`: move the value at each dotted path to another dotted path (missing paths are skipped);
- `select`: keep only the listed dotted paths;
- `default`: set a value where the path is missing;
- `jmespath`: replace the whole document with the expression's result (jmespath.org).

A configuration is checked when it is saved (shape, paths, and every JMESPath expression compiled), so a
call never meets a broken one.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import jmespath
import jsonschema
from jmespath.exceptions import JMESPathError

_PATH = r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$"
_PATH_RE = re.compile(_PATH)
MAX_STEPS = 20

TRANSFORM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "propertyNames": {"pattern": r"^(\*|[A-Za-z0-9_.:-]{1,120})$"},
    "additionalProperties": {
        "type": "array",
        "maxItems": MAX_STEPS,
        "items": {
            "type": "object",
            "minProperties": 1,
            "maxProperties": 1,
            "properties": {
                "rename": {
                    "type": "object",
                    "propertyNames": {"pattern": _PATH},
                    "additionalProperties": {"type": "string", "pattern": _PATH},
                },
                "select": {"type": "array", "minItems": 1, "items": {"type": "string", "pattern": _PATH}},
                "default": {"type": "object", "propertyNames": {"pattern": _PATH}},
                "jmespath": {"type": "string", "minLength": 1, "maxLength": 2000},
            },
            "additionalProperties": False,
        },
    },
}


class TransformError(Exception):
    """A transform could not be applied to a document (e.g. a path into something that is not an object)."""


def validate_transform(config: Any) -> list[str]:
    """Every problem with a transform configuration, as messages; empty when it is valid."""
    problems = [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
        for error in jsonschema.Draft202012Validator(TRANSFORM_SCHEMA).iter_errors(config)
    ]
    if problems:
        return problems
    for action, steps in config.items():
        for index, step in enumerate(steps):
            expression = step.get("jmespath")
            if expression is not None:
                try:
                    jmespath.compile(expression)
                except JMESPathError as exc:
                    problems.append(f"{action}/{index}/jmespath: {str(exc).splitlines()[0]}")
    return problems


def steps_for(config: dict[str, Any], action: str) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = config.get(action, config.get("*", []))
    return steps


_MISSING = object()


def _get(document: Any, path: str) -> Any:
    node = document
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _set(document: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = document
    for part in parents:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise TransformError(f"Cannot set `{path}`: `{part}` is not an object.")
        node = child
    node[last] = value


def _delete(document: dict[str, Any], path: str) -> None:
    *parents, last = path.split(".")
    node: Any = document
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(last, None)


def apply_transform(config: dict[str, Any], action: str, document: Any) -> Any:
    """The document after the steps configured for the action (or `*`); the input is left untouched."""
    result = copy.deepcopy(document)
    for step in steps_for(config, action):
        (kind, argument), *_ = step.items()
        if kind == "jmespath":
            result = jmespath.search(argument, result)
            continue
        if not isinstance(result, dict):
            raise TransformError(f"`{kind}` needs an object, got {type(result).__name__}.")
        if kind == "rename":
            for source, target in argument.items():
                value = _get(result, source)
                if value is not _MISSING:
                    _delete(result, source)
                    _set(result, target, value)
        elif kind == "default":
            for path, value in argument.items():
                if _get(result, path) is _MISSING:
                    _set(result, path, copy.deepcopy(value))
        elif kind == "select":
            selected: dict[str, Any] = {}
            for path in argument:
                value = _get(result, path)
                if value is not _MISSING:
                    _set(selected, path, value)
            result = selected
    return result


def is_path(value: str) -> bool:
    return bool(_PATH_RE.match(value))
