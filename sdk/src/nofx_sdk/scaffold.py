"""`nofx ext init <type>`: a new extension that passes `nofx ext validate` and `nofx ext test` as created."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from nofx_sdk.rules.manifest import EXTENSION_ID_PATTERN, ExtensionType

EXTENSION_TYPES: tuple[str, ...] = tuple(t.value for t in ExtensionType)


class ScaffoldError(Exception):
    """The extension cannot be created as asked (bad id, directory not empty)."""


def _json(data: Any) -> str:
    return json.dumps(data, indent=2) + "\n"


def _base_manifest(ext_id: str, ext_type: str, name: str) -> dict[str, Any]:
    return {
        "$schema": "https://nofx.dev/schemas/nofx-extension.schema.json",
        "id": ext_id,
        "version": "0.1.0",
        "type": ext_type,
        "name": name,
        "description": f"{name}: describe what it does for the customer in a sentence or two.",
        "author": {"name": ext_id.split(".", 1)[0]},
        "category": "productivity",
        "tags": [],
        "requires": {"platform": ">=0.1.0 <1.0.0"},
    }


def _connector(ext_id: str, name: str, host: str) -> dict[str, str]:
    short = ext_id.split(".", 1)[1].replace("-", "_")
    manifest = {
        **_base_manifest(ext_id, "connector", name),
        "category": "ticketing",
        # A declarative connector calls its vendor, not our API: it needs egress, no platform scopes.
        "permissions": {"scopes": [], "egress": [host], "dataClasses": ["internal"]},
        "entryPoint": "connector.json",
        "configSchema": {
            "type": "object",
            "required": ["apiKey"],
            "properties": {"apiKey": {"type": "string", "secret": True}},
        },
    }
    connector = {
        "name": short[:50] if re.match(r"^[a-z][a-z0-9_]{1,49}$", short[:50]) else "my_connector",
        "baseUrl": f"https://{host}",
        "auth": {"type": "api_key", "header": "X-Api-Key"},
        "resources": [
            {
                "name": "ticket",
                "path": "/tickets",
                "idField": "id",
                "updatedField": "updated_at",
                "fields": {"id": {"type": "string"}, "title": {"type": "string"}},
                "pagination": {"type": "cursor"},
            }
        ],
    }
    recordings = {
        "GET /tickets": {
            "status": 200,
            "body": {"results": [{"id": "T-1", "title": "Printer on fire", "updated_at": "2026-01-01T00:00:00Z"}]},
        }
    }
    return {
        "nofx-extension.json": _json(manifest),
        "connector.json": _json(connector),
        "tests/recordings.json": _json(recordings),
    }


def _workflow(ext_id: str, ext_type: str, name: str) -> dict[str, str]:
    manifest = {**_base_manifest(ext_id, ext_type, name), "category": "ticketing", "entryPoint": "workflow.json"}
    workflow = {
        "name": name,
        "source": {"connector": "jira", "object": "issue"},
        "target": {"connector": "servicenow", "object": "incident"},
        "direction": "two_way",
        "mapping": [{"source": "summary", "target": "short_description"}],
        "conflictPolicy": "newest_wins",
    }
    return {"nofx-extension.json": _json(manifest), "workflow.json": _json(workflow)}


def _app(ext_id: str, ext_type: str, name: str, host: str) -> dict[str, str]:
    base = f"https://{host}"
    manifest = {
        **_base_manifest(ext_id, ext_type, name),
        "category": "analytics" if ext_type == "analytics" else "automation",
        "permissions": {"scopes": ["workflows.view"], "egress": [host], "dataClasses": ["internal"]},
        "app": {"baseUrl": base, "registrationUrl": f"{base}/register", "webhookUrl": f"{base}/webhooks"},
        "webhooks": {"events": ["installation.created", "installation.uninstalled", "workflow.run_completed"]},
    }
    events = [
        {"event": "installation.created", "data": {}},
        {"event": "workflow.run_completed", "data": {"workflow_id": "wf-1", "status": "succeeded", "records": 12}},
    ]
    handler = (
        '"""Your hosted app\'s webhook handler (never packaged).\n\n'
        '`nofx ext dev` calls `handle(event)` with every verified delivery.\n"""\n'
        "\n\n"
        "def handle(event: dict) -> dict:\n"
        '    return {"received": event.get("event")}\n'
    )
    return {
        "nofx-extension.json": _json(manifest),
        "app/handler.py": handler,
        "tests/sample-events.json": _json(events),
    }


def scaffold_files(
    ext_type: str, ext_id: str, name: str | None = None, host: str = "api.example.com"
) -> dict[str, str]:
    """Relative path -> text of a new extension of `ext_type`."""
    if ext_type not in EXTENSION_TYPES:
        raise ScaffoldError(f"Unknown extension type {ext_type!r}; choose one of {', '.join(EXTENSION_TYPES)}.")
    if not re.match(EXTENSION_ID_PATTERN, ext_id):
        raise ScaffoldError(
            f"The id {ext_id!r} must look like `publisher.extension-name` (lower case, digits, hyphens)."
        )
    title = name or ext_id.split(".", 1)[1].replace("-", " ").title()
    if ext_type == "connector":
        return _connector(ext_id, title, host)
    if ext_type in ("workflow", "template"):
        return _workflow(ext_id, ext_type, title)
    return _app(ext_id, ext_type, title, host)


def create_extension(directory: Path, ext_type: str, ext_id: str, name: str | None = None) -> list[Path]:
    """Write the scaffold into `directory` (created if missing; it must hold no manifest yet)."""
    files = scaffold_files(ext_type, ext_id, name)
    if directory.exists() and any(directory.iterdir()):
        raise ScaffoldError(f"{directory} is not empty; pick a new directory.")
    written = []
    for relative, text in files.items():
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        written.append(target)
    return written
