"""Three-way comparison of a linked pair of records, field by field, and conflict resolution.

Both sides are compared in the *target's* field space: the source record is mapped forward, and so is
the source snapshot taken at the last sync. For each mapped target field:

- only the source changed since the snapshot  -> write it to the target;
- only the target changed                       -> write it back to the source (bidirectional workflows);
- both changed to the same value                -> nothing to do;
- both changed to different values              -> a conflict, settled by the workflow's policy.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import models

from apps.sync.paths import MISSING, get_path


class ConflictPolicy(models.TextChoices):
    SOURCE_WINS = "source_wins", "Source wins"
    TARGET_WINS = "target_wins", "Target wins"
    LATEST_WINS = "latest_wins", "Latest change wins"
    FIELD_AUTHORITY = "field_authority", "A source of truth per field"
    MANUAL = "manual", "An operator decides"


@dataclass(frozen=True)
class FieldConflict:
    field: str
    base: Any
    source_value: Any
    target_value: Any


@dataclass
class MergePlan:
    """What one pass over a linked pair decided, in the target's field space."""

    to_target: dict[str, Any] = field(default_factory=dict)
    to_source: dict[str, Any] = field(default_factory=dict)
    conflicts: list[FieldConflict] = field(default_factory=list)
    resolved: dict[str, str] = field(default_factory=dict)  # field -> "source" | "target", for the trail

    @property
    def is_noop(self) -> bool:
        return not (self.to_target or self.to_source or self.conflicts)


def _value(record: Mapping[str, Any] | None, path: str) -> Any:
    if record is None:
        return MISSING
    return get_path(record, path)


def _parse_time(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, str) and value:
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    return None


def plan_merge(
    *,
    fields: list[str],
    source_now: Mapping[str, Any],
    source_base: Mapping[str, Any] | None,
    target_now: Mapping[str, Any],
    target_base: Mapping[str, Any] | None,
    policy: str,
    bidirectional: bool,
    source_modified_at: Any = None,
    target_modified_at: Any = None,
    field_authority: Mapping[str, str] | None = None,
) -> MergePlan:
    """Decide, per field, which way values flow. All records are already in the target's field space.

    `source_base`/`target_base` are the snapshots from the last successful sync (None for a new link,
    in which case every differing field counts as changed on the source only).
    """
    plan = MergePlan()
    authority = field_authority or {}
    source_time, target_time = _parse_time(source_modified_at), _parse_time(target_modified_at)
    for name in fields:
        now_s, now_t = _value(source_now, name), _value(target_now, name)
        if now_s == now_t:
            continue
        if source_base is None and target_base is None:
            if now_s is not MISSING:
                plan.to_target[name] = now_s
            continue
        base_s, base_t = _value(source_base, name), _value(target_base, name)
        source_changed, target_changed = now_s != base_s, now_t != base_t
        if source_changed and not target_changed:
            if now_s is not MISSING:
                plan.to_target[name] = now_s
        elif target_changed and not source_changed:
            # One-way workflows leave edits made on the target alone until the source changes again.
            if bidirectional and now_t is not MISSING:
                plan.to_source[name] = now_t
        elif source_changed and target_changed:
            winner = _winner(policy, name, authority, source_time, target_time)
            if winner is None:
                plan.conflicts.append(FieldConflict(name, base_t, now_s, now_t))
            elif winner == "source" and now_s is not MISSING:
                plan.to_target[name] = now_s
                plan.resolved[name] = "source"
            elif winner == "target" and now_t is not MISSING:
                if bidirectional:
                    plan.to_source[name] = now_t
                plan.resolved[name] = "target"
    return plan


def _winner(
    policy: str,
    name: str,
    authority: Mapping[str, str],
    source_time: dt.datetime | None,
    target_time: dt.datetime | None,
) -> str | None:
    if policy == ConflictPolicy.SOURCE_WINS:
        return "source"
    if policy == ConflictPolicy.TARGET_WINS:
        return "target"
    if policy == ConflictPolicy.LATEST_WINS:
        if source_time is None or target_time is None:
            return None  # without both clocks nobody can say which is newer: ask a person
        return "source" if source_time >= target_time else "target"
    if policy == ConflictPolicy.FIELD_AUTHORITY:
        side = authority.get(name)
        return side if side in ("source", "target") else None
    return None  # manual
