"""Field mappings between two object types, and the transforms applied on the way.

A workflow's mapping is a list of rules, each stored as JSON:

    {"source": "fields.status.name", "target": "state", "direction": "both",
     "value_map": {"To Do": "New", "Done": "Closed"}, "coerce": "string", "required": true}
    {"target": "description", "template": "{fields.summary} ({key})", "direction": "to_target"}
    {"source": "priority", "target": "urgency", "coerce": "integer", "default": 3}
    {"source": "state", "target": "State", "value_map": {"open": "Active", "closed": "Closed"},
     "reverse_value_map": {"New": "open", "Active": "open", "Closed": "closed", "*": "open"}}

Going to the target a rule reads `source` (or renders `template`), falls back to `default` when the
value is missing, maps it through `value_map`, coerces it, and refuses a missing `required` value.
Bidirectional rules run the same steps backwards with the inverted value map, or with `reverse_value_map`
when several values on the other side mean one value here; templates only go one way. A `"*"` entry in
either map catches every value the map does not name.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from apps.sync.paths import MISSING, PathError, get_path, parse_path, set_path

Direction = Literal["both", "to_target", "to_source"]
Side = Literal["to_target", "to_source"]
COERCIONS = ("string", "integer", "number", "boolean", "datetime", "date")
DIRECTIONS: tuple[Direction, ...] = ("both", "to_target", "to_source")
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
_RULE_KEYS = {
    "source",
    "target",
    "direction",
    "coerce",
    "reverse_coerce",
    "value_map",
    "reverse_value_map",
    "template",
    "default",
    "required",
}


@dataclass(frozen=True)
class FieldError:
    """One problem, tied to the field it concerns (`mappings[2].value_map`, `target.state`...)."""

    field: str
    message: str
    code: str = "invalid"

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "code": self.code}


class MappingError(ValueError):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


class TransformError(ValueError):
    """A record's value could not be carried across (bad type, unmapped value, missing required field)."""

    def __init__(self, path: str, message: str, code: str = "invalid_value") -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message
        self.code = code


@dataclass(frozen=True)
class FieldRule:
    target: str
    source: str | None = None
    direction: Direction = "both"
    coerce: str | None = None
    reverse_coerce: str | None = None
    value_map: Mapping[str, Any] | None = None
    template: str | None = None
    default: Any = MISSING
    required: bool = False
    reverse_map: Mapping[str, Any] | None = field(default=None, compare=False)
    explicit_reverse: bool = False

    def goes(self, side: Side) -> bool:
        return self.direction in ("both", side)

    @property
    def template_paths(self) -> list[str]:
        return _PLACEHOLDER.findall(self.template or "")

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"target": self.target, "direction": self.direction}
        for name in ("source", "coerce", "reverse_coerce", "value_map", "template"):
            value = getattr(self, name)
            if value is not None:
                data[name] = dict(value) if name == "value_map" else value
        if self.explicit_reverse and self.reverse_map is not None:
            data["reverse_value_map"] = dict(self.reverse_map)
        if self.default is not MISSING:
            data["default"] = self.default
        if self.required:
            data["required"] = True
        return data


def _parse_rule(index: int, raw: Any) -> tuple[FieldRule | None, list[FieldError]]:
    where = f"mappings[{index}]"
    if not isinstance(raw, dict):
        return None, [FieldError(where, "Each mapping is an object.")]
    errors: list[FieldError] = []
    unknown = sorted(set(raw) - _RULE_KEYS)
    if unknown:
        errors.append(FieldError(where, f"Unknown keys: {', '.join(unknown)}.", "unknown_key"))
    target, source, template = raw.get("target"), raw.get("source"), raw.get("template")
    direction = raw.get("direction", "both")
    for name, value in (("target", target), ("source", source)):
        if value is None:
            continue
        try:
            if not isinstance(value, str):
                raise PathError("")
            parse_path(value)
        except PathError:
            errors.append(FieldError(f"{where}.{name}", f"{value!r} is not a field path.", "invalid_path"))
    if not target:
        errors.append(FieldError(f"{where}.target", "Name the target field.", "required"))
    if direction not in DIRECTIONS:
        errors.append(
            FieldError(f"{where}.direction", f"Direction is one of {', '.join(DIRECTIONS)}.", "invalid_choice")
        )
    if (source is None) == (template is None):
        errors.append(FieldError(where, "Give either `source` or `template`.", "source_or_template"))
    if template is not None:
        if not isinstance(template, str):
            errors.append(FieldError(f"{where}.template", "A template is text.", "invalid"))
        elif direction != "to_target":
            errors.append(
                FieldError(f"{where}.template", "A template can only run from source to target.", "one_way_only")
            )
    for name in ("coerce", "reverse_coerce"):
        kind = raw.get(name)
        if kind is not None and kind not in COERCIONS:
            errors.append(
                FieldError(f"{where}.{name}", f"Coercion is one of {', '.join(COERCIONS)}.", "invalid_choice")
            )
    value_map = raw.get("value_map")
    reverse_map = None
    if value_map is not None:
        if not isinstance(value_map, dict) or not value_map:
            errors.append(FieldError(f"{where}.value_map", "A value map is a non-empty object.", "invalid"))
        else:
            reverse_map = {_key(v): k for k, v in value_map.items()}
            if direction == "both" and len(reverse_map) != len(value_map) and raw.get("reverse_value_map") is None:
                errors.append(
                    FieldError(
                        f"{where}.value_map",
                        "Two values map to the same target value, so the mapping cannot run backwards; "
                        "make it one-way, give each value its own target, or add a reverse_value_map.",
                        "not_reversible",
                    )
                )
    reverse_value_map = raw.get("reverse_value_map")
    if reverse_value_map is not None:
        if not isinstance(reverse_value_map, dict) or not reverse_value_map:
            errors.append(
                FieldError(f"{where}.reverse_value_map", "A reverse value map is a non-empty object.", "invalid")
            )
        elif direction == "to_target":
            errors.append(
                FieldError(
                    f"{where}.reverse_value_map", "A one-way rule to the target never runs backwards.", "one_way_only"
                )
            )
        else:
            reverse_map = {_key(k): v for k, v in reverse_value_map.items()}
    if not isinstance(raw.get("required", False), bool):
        errors.append(FieldError(f"{where}.required", "`required` is true or false.", "invalid"))
    if errors:
        return None, errors
    rule = FieldRule(
        target=str(target),
        source=source,
        direction=direction,
        coerce=raw.get("coerce"),
        reverse_coerce=raw.get("reverse_coerce"),
        value_map=value_map,
        template=template,
        default=raw.get("default", MISSING),
        required=raw.get("required", False),
        reverse_map=reverse_map,
        explicit_reverse=reverse_value_map is not None,
    )
    return rule, []


def parse_mappings(raw: Any) -> list[FieldRule]:
    """Parse a workflow's stored mapping list; raise MappingError listing every problem."""
    if not isinstance(raw, list) or not raw:
        raise MappingError([FieldError("mappings", "A workflow maps at least one field.", "required")])
    rules: list[FieldRule] = []
    errors: list[FieldError] = []
    for index, item in enumerate(raw):
        rule, problems = _parse_rule(index, item)
        errors.extend(problems)
        if rule is not None:
            rules.append(rule)
    seen: dict[tuple[str, str], int] = {}
    for index, rule in enumerate(rules):
        for side, path in (("to_target", rule.target), ("to_source", rule.source)):
            if path is None or not rule.goes(side):  # type: ignore[arg-type]
                continue
            if (side, path) in seen:
                errors.append(
                    FieldError(
                        f"mappings[{index}]",
                        f"`{path}` is written by mapping {seen[(side, path)]} already.",
                        "duplicate_target",
                    )
                )
            seen[(side, path)] = index
    if errors:
        raise MappingError(errors)
    return rules


# -- Transforms ---------------------------------------------------------------------------------------------


def _key(value: Any) -> str:
    """Value maps are keyed by text, so 1, "1" and True map the way a person writing JSON expects."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def coerce_value(value: Any, kind: str, path: str) -> Any:
    if value is None:
        return None
    try:
        if kind == "string":
            return value if isinstance(value, str) else _key(value)
        if kind == "integer":
            if isinstance(value, bool):
                return int(value)
            number = Decimal(str(value).strip())
            if number != number.to_integral_value():
                raise TransformError(path, f"{value!r} is not a whole number.")
            return int(number)
        if kind == "number":
            if isinstance(value, bool):
                raise TransformError(path, f"{value!r} is not a number.")
            number = Decimal(str(value).strip())
            return int(number) if number == number.to_integral_value() else float(number)
        if kind == "boolean":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("true", "yes", "1", "on"):
                return True
            if text in ("false", "no", "0", "off", ""):
                return False
            raise TransformError(path, f"{value!r} is not a yes/no value.")
        if kind == "datetime":
            parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=dt.UTC)
            return parsed.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
        if kind == "date":
            text = str(value)
            return dt.date.fromisoformat(text[:10]).isoformat()
    except (InvalidOperation, ValueError) as exc:
        if isinstance(exc, TransformError):
            raise
        raise TransformError(path, f"{value!r} cannot be read as {kind}.") from None
    raise TransformError(path, f"Unknown coercion {kind!r}.", "invalid_coercion")  # pragma: no cover


def render_template(template: str, record: Any) -> str:
    """Substitute `{path}` placeholders with the record's values (missing ones become empty)."""

    def value(match: re.Match[str]) -> str:
        found = get_path(record, match.group(1).strip())
        return "" if found is MISSING or found is None else _key(found)

    return _PLACEHOLDER.sub(value, template)


def _carry(rule: FieldRule, record: Any, side: Side) -> Any:
    table: Mapping[str, Any] | None
    if side == "to_target":
        read_from = rule.source or rule.template or ""
        if rule.template is not None:
            value = render_template(rule.template, record)
        else:
            value = get_path(record, read_from)
        path, table = rule.target, rule.value_map
    else:
        read_from = rule.target
        value = get_path(record, rule.target)
        path, table = rule.source or rule.target, rule.reverse_map
    if value is MISSING or value is None:
        if rule.default is not MISSING and side == "to_target":
            value = rule.default
        elif value is MISSING:
            if rule.required:
                raise TransformError(path, f"`{read_from}` is required but missing.", "required")
            return MISSING
    if table is not None and value is not None:
        key = _key(value)
        if key in table:
            value = table[key]
        elif "*" in table:
            value = table["*"]
        else:
            raise TransformError(path, f"{value!r} has no entry in the value map.", "unmapped_value")
    kind = rule.coerce if side == "to_target" else rule.reverse_coerce
    if kind:
        value = coerce_value(value, kind, path)
    if rule.required and value is None:
        raise TransformError(path, f"`{read_from}` is required but empty.", "required")
    return value


def apply_mappings(rules: Iterable[FieldRule], record: Mapping[str, Any], side: Side) -> dict[str, Any]:
    """Build the other side's fields from one record. Raises TransformError on the first bad value."""
    out: dict[str, Any] = {}
    for rule in rules:
        if not rule.goes(side):
            continue
        value = _carry(rule, record, side)
        if value is MISSING:
            continue
        set_path(out, rule.target if side == "to_target" else rule.source, value)  # type: ignore[arg-type]
    return out


def mapped_paths(rules: Iterable[FieldRule], side: Side) -> list[str]:
    """The paths a direction writes on its destination side."""
    return [
        (rule.target if side == "to_target" else rule.source)  # type: ignore[misc]
        for rule in rules
        if rule.goes(side)
    ]
