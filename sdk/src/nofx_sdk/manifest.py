"""The extension manifest: its pydantic models and its published JSON Schema (shipped as package data).

The models are the platform's own (`nofx_sdk.rules.manifest`); this module is the stable import path for
extension authors.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from nofx_sdk.rules.manifest import (
    API_SCOPES,
    MANIFEST_NAMES,
    SCHEMA_ID,
    WEBHOOK_EVENTS,
    App,
    Dependency,
    ExtensionType,
    Manifest,
    Permissions,
    PricingModel,
    manifest_json_schema,
)

__all__ = [
    "API_SCOPES",
    "MANIFEST_NAMES",
    "SCHEMA_ID",
    "WEBHOOK_EVENTS",
    "App",
    "Dependency",
    "ExtensionType",
    "Manifest",
    "Permissions",
    "PricingModel",
    "load_json_schema",
    "manifest_json_schema",
]


def load_json_schema() -> dict[str, Any]:
    """The committed JSON Schema of the manifest (`nofx-extension.schema.json`), as the platform publishes it."""
    text = resources.files("nofx_sdk.rules").joinpath("nofx-extension.schema.json").read_text()
    return dict(json.loads(text))
