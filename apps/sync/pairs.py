"""A linked pair of records: what of each side a workflow looks at, its hashes, and what a pass writes.

A workflow only ever looks at the fields its mapping names. Everything here works on *projections*:
the part of a record reached by the mapping's paths on that side. A projection is what a record link
keeps as its snapshot, and its hash is how the engine recognises, cheaply, that a record coming back
from a system is exactly what we wrote there (an echo) or that none of the mapped fields changed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from apps.sync.mapping import FieldRule, TransformError, apply_mappings, parse_mappings
from apps.sync.merge import FieldConflict, plan_merge
from apps.sync.paths import MISSING, get_path, set_path


def canonical_json(value: Any) -> str:
    """One text per value: sorted keys, no spaces, so equal records always hash the same."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def content_hash(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def project(record: Mapping[str, Any] | None, paths: Iterable[str]) -> dict[str, Any]:
    """The part of `record` at `paths` (nested as in the record); paths the record lacks are left out."""
    out: dict[str, Any] = {}
    if record is None:
        return out
    for path in paths:
        value = get_path(record, path)
        if value is not MISSING:
            set_path(out, path, value)
    return out


@dataclass(frozen=True)
class WorkflowMapping:
    """A parsed mapping and the paths it reads and writes on each side."""

    rules: tuple[FieldRule, ...]
    source_paths: tuple[str, ...]
    target_paths: tuple[str, ...]

    @classmethod
    def from_rules(cls, rules: Iterable[FieldRule]) -> WorkflowMapping:
        rules = tuple(rules)
        source: list[str] = []
        for rule in rules:
            for path in [rule.source, *rule.template_paths]:
                if path and path not in source:
                    source.append(path)
        target = list(dict.fromkeys(rule.target for rule in rules))
        return cls(rules=rules, source_paths=tuple(source), target_paths=tuple(target))

    @classmethod
    def parse(cls, raw: Any) -> WorkflowMapping:
        """Parse stored mapping JSON; raises MappingError with every problem."""
        return cls.from_rules(parse_mappings(raw))

    # -- Projections and hashes --------------------------------------------------------------------------

    def source_snapshot(self, data: Mapping[str, Any] | None) -> dict[str, Any]:
        return project(data, self.source_paths)

    def target_snapshot(self, data: Mapping[str, Any] | None) -> dict[str, Any]:
        return project(data, self.target_paths)

    def source_hash(self, data: Mapping[str, Any] | None) -> str:
        return content_hash(self.source_snapshot(data))

    def target_hash(self, data: Mapping[str, Any] | None) -> str:
        return content_hash(self.target_snapshot(data))

    # -- Carrying values ---------------------------------------------------------------------------------

    def forward(self, source_data: Mapping[str, Any]) -> dict[str, Any]:
        """The target-side record for a source record (raises TransformError on a bad value)."""
        return apply_mappings(self.rules, source_data, "to_target")

    def backward(self, target_data: Mapping[str, Any]) -> dict[str, Any]:
        """The source-side record for a target record (raises TransformError on a bad value)."""
        return apply_mappings(self.rules, target_data, "to_source")

    def backward_fields(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Target-space `{path: value}` carried back to the source, only for rules that run that way."""
        wanted = [rule for rule in self.rules if rule.goes("to_source") and rule.target in values]
        partial: dict[str, Any] = {}
        for rule in wanted:
            set_path(partial, rule.target, values[rule.target])
        return apply_mappings(wanted, partial, "to_source")

    @property
    def merge_fields(self) -> list[str]:
        return list(self.target_paths)

    @property
    def backward_paths(self) -> set[str]:
        """Target paths whose value flows back to the source."""
        return {rule.target for rule in self.rules if rule.goes("to_source")}

    def differing_fields(self, source_data: Mapping[str, Any], target_data: Mapping[str, Any]) -> list[str]:
        """Target-space paths where the two records disagree under this mapping (the reconciler's test)."""
        try:
            forward = self.forward(source_data)
        except TransformError as exc:
            return [exc.path]
        differing: list[str] = []
        for rule in self.rules:
            if rule.goes("to_target"):
                if get_path(forward, rule.target) == get_path(target_data, rule.target):
                    continue
                # A field that runs both ways agrees when the way back says so: with a reverse value map
                # several target values mean one source value (Azure DevOps New and Active are GitHub open).
                if (
                    rule.goes("to_source")
                    and rule.source is not None
                    and self._agrees_backwards(rule, source_data, target_data)
                ):
                    continue
                differing.append(rule.target)
            elif rule.source is not None:
                try:
                    back = apply_mappings([rule], target_data, "to_source")
                except TransformError:
                    differing.append(rule.target)
                    continue
                if get_path(back, rule.source) != get_path(source_data, rule.source):
                    differing.append(rule.target)
        return differing

    @staticmethod
    def _agrees_backwards(rule: FieldRule, source_data: Mapping[str, Any], target_data: Mapping[str, Any]) -> bool:
        try:
            back = apply_mappings([rule], target_data, "to_source")
        except TransformError:
            return False
        return get_path(back, rule.source or "") == get_path(source_data, rule.source or "")


@dataclass
class PairPlan:
    """What one pass writes on each side of a linked pair. Payloads are nested, in each side's own fields."""

    to_target: dict[str, Any] = field(default_factory=dict)
    to_source: dict[str, Any] = field(default_factory=dict)
    target_fields: list[str] = field(default_factory=list)
    source_fields: list[str] = field(default_factory=list)
    conflicts: list[FieldConflict] = field(default_factory=list)
    resolved: dict[str, str] = field(default_factory=dict)

    @property
    def is_noop(self) -> bool:
        return not (self.to_target or self.to_source or self.conflicts)


def plan_pair(
    mapping: WorkflowMapping,
    *,
    source_now: Mapping[str, Any],
    target_now: Mapping[str, Any],
    source_snapshot: Mapping[str, Any] | None,
    target_snapshot: Mapping[str, Any] | None,
    policy: str,
    bidirectional: bool,
    source_modified_at: Any = None,
    target_modified_at: Any = None,
    field_authority: Mapping[str, str] | None = None,
    held_fields: Iterable[str] = (),
) -> PairPlan:
    """Three-way plan for a linked pair; raises TransformError when the source record cannot be mapped.

    `held_fields` are target paths with an open manual conflict: nothing moves on them until an operator
    decides.
    """
    source_t = mapping.forward(source_now)
    source_base_t: dict[str, Any] | None = None
    if source_snapshot is not None:
        try:
            source_base_t = mapping.forward(source_snapshot)
        except TransformError:
            # The snapshot was mapped once already; if the mapping changed since, assume both sides agreed.
            source_base_t = dict(target_snapshot or {})
    held = set(held_fields)
    merge = plan_merge(
        fields=[name for name in mapping.merge_fields if name not in held],
        source_now=source_t,
        source_base=source_base_t,
        target_now=mapping.target_snapshot(target_now),
        target_base=target_snapshot,
        policy=policy,
        bidirectional=bidirectional,
        source_modified_at=source_modified_at,
        target_modified_at=target_modified_at,
        field_authority=field_authority,
    )
    plan = PairPlan(conflicts=merge.conflicts, resolved=merge.resolved)
    for name, value in merge.to_target.items():
        set_path(plan.to_target, name, value)
        plan.target_fields.append(name)
    back = {name: value for name, value in merge.to_source.items() if name in mapping.backward_paths}
    if back:
        plan.to_source = mapping.backward_fields(back)
        plan.source_fields = sorted(
            rule.source for rule in mapping.rules if rule.source and rule.goes("to_source") and rule.target in back
        )
    return plan
