"""Declarative connector manifests: their JSON Schema and the checks past it, shared by the platform's
connector framework and by `nofx ext validate`, so both refuse the same manifests with the same messages.

A problem is reported as `{field, message, code}`, the platform API's error shape.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

MANIFEST_SCHEMA_PATH = Path(str(resources.files("nofx_sdk").joinpath("connector-manifest.schema.json")))
TEMPLATE = re.compile(r"{{\s*([^{}]*?)\s*}}")
TEMPLATE_ROOTS = ("settings", "credentials", "record", "input", "id", "body", "headers", "query")


def schema_errors(schema: dict[str, Any], instance: Any, *, prefix: str = "") -> list[dict[str, Any]]:
    """Every violation of `schema` as `{field, message, code}`, the API's error shape."""
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = []
    for error in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path)):
        path = ".".join(str(p) for p in error.absolute_path)
        if error.validator == "required" and isinstance(error.message, str):
            missing = error.message.split("'")[1] if "'" in error.message else ""
            path = f"{path}.{missing}" if path and missing else (missing or path)
        full = f"{prefix}.{path}" if prefix and path else (prefix or path)
        errors.append({"field": full or None, "message": error.message, "code": str(error.validator)})
    return errors


@cache
def manifest_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(MANIFEST_SCHEMA_PATH.read_text())
    return schema


def _templates(value: Any) -> list[str]:
    if isinstance(value, str):
        return TEMPLATE.findall(value)
    if isinstance(value, dict):
        return [t for item in value.values() for t in _templates(item)]
    if isinstance(value, list):
        return [t for item in value for t in _templates(item)]
    return []


def validate_manifest(document: Any) -> list[dict[str, Any]]:
    """Every problem with a manifest as `{field, message, code}`; empty when it is valid."""
    errors = schema_errors(manifest_schema(), document)
    if errors:
        return errors
    for section in ("streams", "actions"):
        names = [item["name"] for item in document.get(section, [])]
        for name in {n for n in names if names.count(n) > 1}:
            errors.append({"field": section, "message": f"`{name}` is defined twice.", "code": "duplicate"})
    for expression in _templates(
        {k: v for k, v in document.items() if k not in ("settings_schema", "credentials_schema")}
    ):
        root = re.split(r"[.\[]", expression, maxsplit=1)[0]
        if root not in TEMPLATE_ROOTS:
            errors.append(
                {
                    "field": None,
                    "message": f"`{{{{ {expression} }}}}` names `{root}`; "
                    f"templates may use {', '.join(TEMPLATE_ROOTS)}.",
                    "code": "unknown_template_root",
                }
            )
    return errors
