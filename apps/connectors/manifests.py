"""Declarative connector manifests: loading, and validation against the published JSON Schema.

The schema is committed at docs/schemas/connector-manifest.schema.json and served at
/schemas/connector-manifest.schema.json. Past the schema, a few rules the schema cannot say are checked
here (every action and stream name unique, templates only naming known roots).
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings

from apps.connectors.providers.base import schema_errors

MANIFEST_SCHEMA_PATH = Path(settings.BASE_DIR) / "docs" / "schemas" / "connector-manifest.schema.json"
BUILTIN_MANIFESTS = Path(__file__).resolve().parent / "providers" / "manifests"
TEMPLATE = re.compile(r"{{\s*([^{}]*?)\s*}}")
TEMPLATE_ROOTS = ("settings", "credentials", "record", "input", "id", "body", "headers", "query")


@cache
def manifest_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(MANIFEST_SCHEMA_PATH.read_text())
    return schema


def parse_manifest(text: str) -> Any:
    """A manifest from JSON or YAML text (YAML's safe loader: no tags, no code)."""
    return yaml.safe_load(text)


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


@cache
def load_builtin_manifest(name: str) -> dict[str, Any]:
    document: dict[str, Any] = parse_manifest((BUILTIN_MANIFESTS / f"{name}.yaml").read_text())
    errors = validate_manifest(document)
    if errors:
        raise ValueError(f"The built-in manifest {name} is invalid: {errors}")
    return document
