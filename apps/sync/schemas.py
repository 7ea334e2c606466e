"""Checking a workflow's mapping against both object types' JSON Schemas, when the workflow is saved.

The schemas are the ones each connector publishes for its object types. Every problem is reported
against the mapping rule and field it concerns, so the person editing the workflow can fix them all
at once.
"""

from __future__ import annotations

from typing import Any

import jsonschema

from apps.sync.mapping import FieldError, FieldRule, Side, mapped_paths
from apps.sync.paths import parse_path

_COERCED_TYPE = {
    "string": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
    "datetime": "string",
    "date": "string",
}


def _types(schema: dict[str, Any]) -> set[str]:
    declared = schema.get("type")
    if declared is None:
        return set()  # anything goes
    return {declared} if isinstance(declared, str) else set(declared)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def field_schema(schema: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The sub-schema at a path, or None when the object type has no such field."""
    node = schema
    for step in parse_path(path):
        if isinstance(step, int):
            items = node.get("items")
            if not isinstance(items, dict):
                return None
            node = items
        else:
            properties = node.get("properties")
            if not isinstance(properties, dict) or step not in properties:
                return None
            node = properties[step]
    return node


def _accepts(target_types: set[str], produced: set[str]) -> bool:
    if not target_types or not produced:
        return True
    allowed = target_types | ({"integer"} if "number" in target_types else set())
    return (produced - {"null"}) <= allowed and ("null" not in produced or "null" in target_types)


def _check_direction(
    rules: list[FieldRule], side: Side, read: dict[str, Any], write: dict[str, Any], read_name: str, write_name: str
) -> list[FieldError]:
    errors: list[FieldError] = []
    for index, rule in enumerate(rules):
        if not rule.goes(side):
            continue
        where = f"mappings[{index}]"
        read_path = rule.source if side == "to_target" else rule.target
        write_path = rule.target if side == "to_target" else rule.source
        assert write_path is not None
        reads = rule.template_paths if (rule.template is not None and side == "to_target") else [read_path]
        read_schemas: list[dict[str, Any]] = []
        for path in reads:
            found = field_schema(read, path) if path else None
            if found is None:
                errors.append(FieldError(f"{where}", f"`{path}` is not a field of the {read_name}.", "unknown_field"))
            else:
                read_schemas.append(found)
        target = field_schema(write, write_path)
        if target is None:
            errors.append(
                FieldError(f"{where}", f"`{write_path}` is not a field of the {write_name}.", "unknown_field")
            )
            continue
        if target.get("readOnly"):
            errors.append(FieldError(f"{where}", f"`{write_path}` cannot be written on the {write_name}.", "read_only"))
        table = rule.value_map if side == "to_target" else rule.reverse_map
        kind = rule.coerce if side == "to_target" else rule.reverse_coerce
        if kind:
            produced = {_COERCED_TYPE[kind]}
        elif table is not None:
            produced = {_json_type(v) for v in table.values()}
        elif rule.template is not None and side == "to_target":
            produced = {"string"}
        else:
            produced = _types(read_schemas[0]) if read_schemas else set()
        if not _accepts(_types(target), produced):
            errors.append(
                FieldError(
                    f"{where}",
                    f"The {write_name}'s `{write_path}` takes {'/'.join(sorted(_types(target)))} "
                    f"but the mapping gives {'/'.join(sorted(produced))}; add a coercion.",
                    "type_mismatch",
                )
            )
        allowed = target.get("enum")
        if isinstance(allowed, list):
            if table is not None:
                offered = list(table.values())
            elif read_schemas and isinstance(read_schemas[0].get("enum"), list) and not kind:
                offered = read_schemas[0]["enum"]
            else:
                offered = []
            stray = [v for v in offered if v not in allowed and v is not None]
            if stray:
                errors.append(
                    FieldError(
                        f"{where}.value_map",
                        f"{', '.join(map(repr, stray))} not accepted by the {write_name}'s `{write_path}` "
                        f"(allowed: {', '.join(map(repr, allowed))}).",
                        "not_in_enum",
                    )
                )
    written = set(mapped_paths(rules, side))
    defaults = {r.target for r in rules if side == "to_target" and r.default is not None}
    for name in write.get("required", []):
        if (
            name not in written
            and name not in defaults
            and not write.get("properties", {}).get(name, {}).get("readOnly")
        ):
            errors.append(
                FieldError(
                    f"{'target' if side == 'to_target' else 'source'}.{name}",
                    f"The {write_name} requires `{name}`; map a field or give a default.",
                    "required_unmapped",
                )
            )
    return errors


def validate_mappings_against_schemas(
    rules: list[FieldRule],
    *,
    source_schema: dict[str, Any],
    target_schema: dict[str, Any],
    bidirectional: bool,
    source_name: str = "source object",
    target_name: str = "target object",
) -> list[FieldError]:
    errors = _check_direction(rules, "to_target", source_schema, target_schema, source_name, target_name)
    if bidirectional:
        errors += _check_direction(rules, "to_source", target_schema, source_schema, target_name, source_name)
    return errors


def record_errors(record: dict[str, Any], schema: dict[str, Any], *, partial: bool) -> list[str]:
    """Why a mapped record may not be written: schema violations of the fields it carries.

    An update (`partial`) only carries the fields that changed, so `required` is not checked then.
    """
    checked = {k: v for k, v in schema.items() if not (partial and k == "required")}
    validator = jsonschema.Draft202012Validator(checked)
    return [
        f"{'.'.join(map(str, error.absolute_path)) or '(record)'}: {error.message}"
        for error in sorted(validator.iter_errors(record), key=lambda e: list(map(str, e.absolute_path)))
    ]
