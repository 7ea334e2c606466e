"""Write the published JSON Schema of the extension manifest (generated from the pydantic models)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand

from apps.marketplace.rules.manifest import manifest_json_schema

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "rules" / "nofx-extension.schema.json"


def rendered_schema() -> str:
    return json.dumps(manifest_json_schema(), indent=2, sort_keys=True) + "\n"


class Command(BaseCommand):
    help = "Regenerate apps/marketplace/rules/nofx-extension.schema.json from the manifest models."

    def handle(self, *args: Any, **options: Any) -> None:
        SCHEMA_FILE.write_text(rendered_schema())
        self.stdout.write(f"Wrote {SCHEMA_FILE.name}")
