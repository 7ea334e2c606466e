"""Declarative connector manifests: loading, and validation against the published JSON Schema.

The schema and its checks live in the SDK (nofx_sdk.connector_manifest), so `nofx ext validate` applies
them too; the schema is served at
/schemas/connector-manifest.schema.json. Past the schema, a few rules the schema cannot say are checked
here (every action and stream name unique, templates only naming known roots).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

from nofx_sdk.connector_manifest import MANIFEST_SCHEMA_PATH, manifest_schema, validate_manifest

__all__ = ["MANIFEST_SCHEMA_PATH", "load_builtin_manifest", "manifest_schema", "parse_manifest", "validate_manifest"]

BUILTIN_MANIFESTS = Path(__file__).resolve().parent / "providers" / "manifests"


def parse_manifest(text: str) -> Any:
    """A manifest from JSON or YAML text (YAML's safe loader: no tags, no code)."""
    return yaml.safe_load(text)


@cache
def load_builtin_manifest(name: str) -> dict[str, Any]:
    document: dict[str, Any] = parse_manifest((BUILTIN_MANIFESTS / f"{name}.yaml").read_text())
    errors = validate_manifest(document)
    if errors:
        raise ValueError(f"The built-in manifest {name} is invalid: {errors}")
    return document
