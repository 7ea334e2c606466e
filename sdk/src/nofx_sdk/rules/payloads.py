"""The declarative payloads: a connector manifest or a workflow definition, checked by their JSON Schemas.

These schemas are the marketplace's own statement of the shapes it accepts today; the connector framework
(apps.connectors) owns the authoritative connector manifest schema and replaces `CONNECTOR_MANIFEST_SCHEMA`
when it lands.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

BUILT_IN_CONNECTORS = frozenset(
    {"salesforce", "servicenow", "jira", "azure_devops", "slack", "microsoft_teams", "github", "gitlab"}
)

_SCHEMA_OBJECT = {"type": "object"}

CONNECTOR_MANIFEST_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Declarative connector manifest",
    "type": "object",
    "required": ["name", "baseUrl", "auth"],
    "additionalProperties": False,
    "anyOf": [{"required": ["resources"]}, {"required": ["actions"]}],
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z][a-z0-9_]{1,49}$"},
        "baseUrl": {"type": "string", "pattern": "^https?://"},
        "auth": {
            "type": "object",
            "required": ["type"],
            "properties": {
                "type": {"enum": ["none", "api_key", "basic", "bearer", "oauth2"]},
                "header": {"type": "string"},
                "authorizeUrl": {"type": "string", "pattern": "^https://"},
                "tokenUrl": {"type": "string", "pattern": "^https://"},
                "scopes": {"type": "array", "items": {"type": "string"}},
            },
        },
        "rateLimit": {
            "type": "object",
            "properties": {"requestsPerMinute": {"type": "integer", "minimum": 1}},
            "additionalProperties": False,
        },
        "resources": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name", "path", "idField"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,49}$"},
                    "path": {"type": "string", "pattern": "^/"},
                    "idField": {"type": "string"},
                    "updatedField": {"type": "string"},
                    "fields": {"type": "object", "additionalProperties": _SCHEMA_OBJECT},
                    "pagination": {
                        "type": "object",
                        "required": ["type"],
                        "properties": {"type": {"enum": ["none", "cursor", "offset", "page", "link"]}},
                    },
                },
            },
        },
        "actions": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name", "method", "path"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,49}$"},
                    "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE"]},
                    "path": {"type": "string", "pattern": "^/"},
                    "inputSchema": _SCHEMA_OBJECT,
                    "outputSchema": _SCHEMA_OBJECT,
                },
            },
        },
        "sandbox": {"type": "object"},
    },
}

_ENDPOINT = {
    "type": "object",
    "required": ["connector", "object"],
    "additionalProperties": False,
    "properties": {"connector": {"type": "string", "minLength": 1}, "object": {"type": "string", "minLength": 1}},
}

WORKFLOW_DEFINITION_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Integration workflow definition",
    "type": "object",
    "required": ["name", "source", "target", "direction", "mapping"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 120},
        "description": {"type": "string"},
        "source": _ENDPOINT,
        "target": _ENDPOINT,
        "direction": {"enum": ["one_way", "two_way"]},
        "mapping": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["source", "target"],
                "additionalProperties": False,
                "properties": {
                    "source": {"type": "string", "minLength": 1},
                    "target": {"type": "string", "minLength": 1},
                    "transform": {"enum": ["none", "lowercase", "uppercase", "trim", "date", "number", "map"]},
                    "values": {"type": "object"},
                },
            },
        },
        "conflictPolicy": {"enum": ["source_wins", "target_wins", "newest_wins", "manual"]},
        "filter": {"type": "string"},
        "schedule": {
            "type": "object",
            "properties": {"everyMinutes": {"type": "integer", "minimum": 1, "maximum": 1440}},
            "additionalProperties": False,
        },
    },
}

CONNECTOR_VALIDATOR = Draft202012Validator(CONNECTOR_MANIFEST_SCHEMA)
WORKFLOW_VALIDATOR = Draft202012Validator(WORKFLOW_DEFINITION_SCHEMA)


def schema_errors(validator: Draft202012Validator, document: Any) -> list[tuple[tuple[str | int, ...], str]]:
    """(path, message) for each violation, in document order."""
    errors = sorted(validator.iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path])
    return [(tuple(e.absolute_path), e.message) for e in errors]


def workflow_connectors(definition: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    """(path, connector name) for the workflow's two ends."""
    found: list[tuple[tuple[str | int, ...], str]] = []
    for end in ("source", "target"):
        connector = (definition.get(end) or {}).get("connector")
        if isinstance(connector, str):
            found.append(((end, "connector"), connector))
    return found
