"""Write the published JSON Schema of the extension manifest (generated from the pydantic models)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand

import nofx_sdk.rules
from nofx_sdk.rules.manifest import manifest_json_schema

# The schema is package data of the SDK, which owns the rules; the platform regenerates it from the same models.
SCHEMA_FILE = Path(nofx_sdk.rules.__file__).resolve().parent / "nofx-extension.schema.json"


def rendered_schema() -> str:
    return json.dumps(manifest_json_schema(), indent=2, sort_keys=True) + "\n"


class Command(BaseCommand):
    help = "Regenerate the SDK's nofx_sdk/rules/nofx-extension.schema.json from the manifest models."

    def handle(self, *args: Any, **options: Any) -> None:
        SCHEMA_FILE.write_text(rendered_schema())
        self.stdout.write(f"Wrote {SCHEMA_FILE.name}")
