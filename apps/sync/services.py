"""Every write of the sync app: workflows and their schedules, runs, conflicts, failed records, webhooks."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.accounts.models import Organization
from apps.connectors.connections import provider_for
from apps.connectors.errors import ConnectorError, NotSupported
from apps.connectors.models import Connector, WebhookDelivery
from apps.connectors.providers.base import Notification, ObjectType
from apps.connectors.services import mark_connector_synced, notify_organization
from apps.core.exceptions import BusinessRuleViolation, Conflict
from apps.security.observers import acting_person
from apps.security.services import record_audit_event
from apps.sync import reconciler, schedules
from apps.sync.engine import RunAborted, SyncEngine
from apps.sync.leases import acquire_run_lease, release_run_lease
from apps.sync.mapping import MappingError, parse_mappings
from apps.sync.merge import ConflictPolicy
from apps.sync.models import Conflict as SyncConflict
from apps.sync.models import (
    ConflictChoice,
    ConflictStatus,
    DeletePolicy,
    Direction,
    FailedRecord,
    FailedRecordStatus,
    IntegrationWorkflow,
    RunOperation,
    RunStatus,
    RunTrigger,
    ScheduleKind,
    Side,
    SyncRun,
    WorkflowDraft,
    WorkflowDraftStatus,
    WorkflowStatus,
)
from apps.sync.paths import MISSING, PathError, parse_path, set_path
from apps.sync.reconciler import ReconcileReport
from apps.sync.schemas import field_schema, record_errors, validate_mappings_against_schemas
from apps.sync.workflow_templates import TEMPLATES_BY_KEY

logger = logging.getLogger(__name__)

MIN_INTERVAL_SECONDS = 10


class WorkflowInvalid(BusinessRuleViolation):
    """A workflow definition failed validation; `errors` names every offending field."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        first = errors[0] if errors else {}
        super().__init__("The workflow is not valid; see `errors`.", code="workflow_invalid", field=first.get("field"))
        self.errors = errors


class WorkflowBusy(Exception):
    """Another run of the workflow holds its lease."""


# -- Workflow definitions -----------------------------------------------------------------------------------


@dataclass
class WorkflowDefinition:
    """Everything a workflow is made of, checked as one."""

    name: str
    source_connector: Connector
    source_object_type: str
    target_connector: Connector
    target_object_type: str
    direction: str
    mappings: Any
    conflict_policy: str
    field_authority: Any
    delete_policy: str
    tombstone_values: Any
    schedule_kind: str
    interval_seconds: int | None
    cron_expression: str
    description: str = ""


DEFINITION_FIELDS = tuple(WorkflowDefinition.__dataclass_fields__)


def _error(field: str, message: str, code: str) -> dict[str, Any]:
    return {"field": field, "message": message, "code": code}


def _object_type(
    connector: Connector, name: str, operations: list[str], field: str, errors: list[dict[str, Any]]
) -> ObjectType | None:
    try:
        with provider_for(connector) as provider:
            found = provider.object_type(name, "read")
            for operation in operations:
                provider.object_type(name, operation)
            return found
    except NotSupported as exc:
        errors.append(_error(field, exc.message, "unsupported_object_type"))
    except ConnectorError as exc:
        errors.append(_error(field, exc.message, exc.code))
    return None


def _check_definition(definition: WorkflowDefinition, organization: Organization) -> WorkflowDefinition:
    """Raise WorkflowInvalid listing every problem: the mapping is checked against both sides' schemas."""
    errors: list[dict[str, Any]] = []
    definition.name = (definition.name or "").strip()
    if not definition.name:
        errors.append(_error("name", "A workflow needs a name.", "required"))
    for side in ("source", "target"):
        connector = getattr(definition, f"{side}_connector")
        if connector is None or connector.organization_id != organization.pk:
            errors.append(_error(f"{side}_connector", "No such connector.", "does_not_exist"))
    if definition.direction not in Direction.values:
        errors.append(_error("direction", f"Choose one of {', '.join(Direction.values)}.", "invalid_choice"))
    if definition.conflict_policy not in ConflictPolicy.values:
        errors.append(_error("conflict_policy", f"Choose one of {', '.join(ConflictPolicy.values)}.", "invalid_choice"))
    if definition.delete_policy not in DeletePolicy.values:
        errors.append(_error("delete_policy", f"Choose one of {', '.join(DeletePolicy.values)}.", "invalid_choice"))
    _check_schedule(definition, errors)
    if errors:
        raise WorkflowInvalid(errors)

    bidirectional = definition.direction == Direction.BIDIRECTIONAL
    propagate = definition.delete_policy == DeletePolicy.PROPAGATE
    # The target is always written; the source only when changes flow back. Deletes only when they propagate.
    source_ops = ["get", *(["create", "update"] if bidirectional else [])]
    source_ops += ["delete"] if bidirectional and propagate else []
    target_ops = ["get", "create", "update", *(["delete"] if propagate else [])]
    source_type = _object_type(
        definition.source_connector, definition.source_object_type, source_ops, "source_object_type", errors
    )
    target_type = _object_type(
        definition.target_connector, definition.target_object_type, target_ops, "target_object_type", errors
    )
    try:
        rules = parse_mappings(definition.mappings)
    except MappingError as exc:
        errors.extend(error.as_dict() for error in exc.errors)
        rules = []
    if rules and source_type is not None and target_type is not None:
        problems = validate_mappings_against_schemas(
            rules,
            source_schema=source_type.schema,
            target_schema=target_type.schema,
            bidirectional=bidirectional,
            source_name=f"{definition.source_connector.name} {source_type.title}",
            target_name=f"{definition.target_connector.name} {target_type.title}",
        )
        errors.extend(problem.as_dict() for problem in problems)
    target_paths = {rule.target for rule in rules}
    _check_field_authority(definition, target_paths, errors)
    schemas = {
        "source": source_type.schema if source_type else None,
        "target": target_type.schema if target_type else None,
    }
    _check_tombstone_values(definition, schemas, bidirectional, errors)
    if errors:
        raise WorkflowInvalid(errors)
    return definition


def _check_schedule(definition: WorkflowDefinition, errors: list[dict[str, Any]]) -> None:
    if definition.schedule_kind == ScheduleKind.INTERVAL:
        seconds = definition.interval_seconds
        if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < MIN_INTERVAL_SECONDS:
            errors.append(_error("interval_seconds", f"Run at most every {MIN_INTERVAL_SECONDS} seconds.", "min_value"))
        definition.cron_expression = ""
    elif definition.schedule_kind == ScheduleKind.CRON:
        definition.cron_expression = " ".join((definition.cron_expression or "").split())
        try:
            schedules.parse_cron(definition.cron_expression)
        except ValueError as exc:
            errors.append(_error("cron_expression", str(exc) or "Not a cron expression.", "invalid_cron"))
        definition.interval_seconds = None
    else:
        errors.append(_error("schedule_kind", f"Choose one of {', '.join(ScheduleKind.values)}.", "invalid_choice"))


def _check_field_authority(
    definition: WorkflowDefinition, target_paths: set[str], errors: list[dict[str, Any]]
) -> None:
    authority = definition.field_authority or {}
    if not isinstance(authority, dict):
        errors.append(_error("field_authority", 'An object of target field -> "source" or "target".', "invalid"))
        return
    for name, side in authority.items():
        if target_paths and name not in target_paths:
            errors.append(_error(f"field_authority.{name}", "Not a target field of the mapping.", "unknown_field"))
        if side not in ("source", "target"):
            errors.append(_error(f"field_authority.{name}", 'Either "source" or "target".', "invalid_choice"))
    if definition.conflict_policy == ConflictPolicy.FIELD_AUTHORITY and not authority:
        errors.append(_error("field_authority", "Name the side that owns each field for this policy.", "required"))
    definition.field_authority = authority


def _check_tombstone_values(
    definition: WorkflowDefinition,
    schemas: dict[str, dict[str, Any] | None],
    bidirectional: bool,
    errors: list[dict[str, Any]],
) -> None:
    values = definition.tombstone_values or {}
    if not isinstance(values, dict) or set(values) - {"source", "target"}:
        errors.append(_error("tombstone_values", 'An object with "target" and/or "source" values to write.', "invalid"))
        return
    for side, fields in values.items():
        where = f"tombstone_values.{side}"
        if side == "source" and fields and not bidirectional:
            errors.append(_error(where, "A one-way workflow never writes to its source.", "one_way_only"))
            continue
        if not isinstance(fields, dict):
            errors.append(_error(where, "An object of field -> value.", "invalid"))
            continue
        schema = schemas.get(side)
        for path in fields:
            try:
                parse_path(path)
            except PathError:
                errors.append(_error(f"{where}.{path}", "Not a field path.", "invalid_path"))
                continue
            if schema is not None and field_schema(schema, path) is None:
                errors.append(_error(f"{where}.{path}", f"Not a field of the {side} object.", "unknown_field"))
        if schema is not None:
            for problem in record_errors(dict(fields), schema, partial=True):
                errors.append(_error(where, problem, "schema_violation"))
    definition.tombstone_values = values


def _definition_of(workflow: IntegrationWorkflow) -> WorkflowDefinition:
    return WorkflowDefinition(**{name: getattr(workflow, name) for name in DEFINITION_FIELDS})


def create_workflow(
    *,
    organization: Organization,
    actor: Any,
    name: str,
    source_connector: Connector,
    source_object_type: str,
    target_connector: Connector,
    target_object_type: str,
    mappings: Any,
    direction: str = Direction.ONE_WAY,
    conflict_policy: str = ConflictPolicy.SOURCE_WINS,
    field_authority: Any = None,
    delete_policy: str = DeletePolicy.TOMBSTONE,
    tombstone_values: Any = None,
    schedule_kind: str = ScheduleKind.INTERVAL,
    interval_seconds: int | None = 300,
    cron_expression: str = "",
    description: str = "",
    template_key: str = "",
    paused: bool = False,
) -> IntegrationWorkflow:
    """Define a workflow after checking its mapping against both sides' schemas, and schedule it."""
    definition = _check_definition(
        WorkflowDefinition(
            name=name,
            source_connector=source_connector,
            source_object_type=source_object_type,
            target_connector=target_connector,
            target_object_type=target_object_type,
            direction=direction,
            mappings=mappings,
            conflict_policy=conflict_policy,
            field_authority=field_authority or {},
            delete_policy=delete_policy,
            tombstone_values=tombstone_values or {},
            schedule_kind=schedule_kind,
            interval_seconds=interval_seconds,
            cron_expression=cron_expression,
            description=description,
        ),
        organization,
    )
    if IntegrationWorkflow.objects.filter(organization=organization, name=definition.name).exists():
        raise WorkflowInvalid([_error("name", "A workflow with that name exists.", "name_taken")])
    with transaction.atomic():
        workflow = IntegrationWorkflow(
            organization=organization,
            template_key=template_key,
            status=WorkflowStatus.PAUSED if paused else WorkflowStatus.ACTIVE,
            **{name_: getattr(definition, name_) for name_ in DEFINITION_FIELDS},
        )
        workflow.save()
        workflow.periodic_task = schedules.write_periodic_task(workflow)
        workflow.save(update_fields=["periodic_task"])
        record_audit_event(
            actor=actor,
            action="sync.workflow_created",
            target=workflow,
            data={
                "source_connector": str(source_connector.pk),
                "target_connector": str(target_connector.pk),
                "direction": workflow.direction,
                "template": template_key,
            },
        )
    return workflow


def create_workflow_from_template(
    *,
    organization: Organization,
    actor: Any,
    template_key: str,
    source_connector: Connector,
    target_connector: Connector,
    name: str = "",
    paused: bool = False,
    **overrides: Any,
) -> IntegrationWorkflow:
    """Create one of the ready-made workflows between two connectors of the providers it names."""
    template = TEMPLATES_BY_KEY.get(template_key)
    if template is None:
        raise WorkflowInvalid(
            [_error("template", f"Choose one of {', '.join(sorted(TEMPLATES_BY_KEY))}.", "invalid_choice")]
        )
    errors = [
        _error(f"{side}_connector", f"This template needs a {provider} connector.", "wrong_provider")
        for side, connector, provider in (
            ("source", source_connector, template.source_provider),
            ("target", target_connector, template.target_provider),
        )
        if connector.provider != provider
    ]
    if errors:
        raise WorkflowInvalid(errors)
    definition = {**template.definition(), **overrides}
    return create_workflow(
        organization=organization,
        actor=actor,
        name=name or template.title,
        source_connector=source_connector,
        target_connector=target_connector,
        template_key=template.key,
        paused=paused,
        **definition,
    )


# -- Drafts (workflow definitions waiting for their connectors) ------------------------------------------------

# The marketplace's workflow definition names its policies and transforms in its own words.
_DRAFT_DIRECTIONS = {"one_way": Direction.ONE_WAY, "two_way": Direction.BIDIRECTIONAL}
_DRAFT_CONFLICT_POLICIES = {
    "source_wins": ConflictPolicy.SOURCE_WINS,
    "target_wins": ConflictPolicy.TARGET_WINS,
    "newest_wins": ConflictPolicy.LATEST_WINS,
    "manual": ConflictPolicy.MANUAL,
}
_DRAFT_COERCIONS = {"date": "date", "number": "number"}


def _draft_mappings(rules: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """The definition's mapping as sync mapping rules, and a note for each transform that has no equal."""
    mappings: list[dict[str, Any]] = []
    notes: list[str] = []
    for rule in rules if isinstance(rules, list) else []:
        if not isinstance(rule, dict):
            continue
        mapped: dict[str, Any] = {"source": rule.get("source"), "target": rule.get("target")}
        transform = rule.get("transform") or "none"
        if transform == "map" and isinstance(rule.get("values"), dict):
            mapped["value_map"] = rule["values"]
        elif transform in _DRAFT_COERCIONS:
            mapped["coerce"] = _DRAFT_COERCIONS[transform]
        elif transform != "none":
            notes.append(f"{rule.get('source')} -> {rule.get('target')}: the `{transform}` transform was left out.")
        mappings.append(mapped)
    return mappings, notes


def create_workflow_draft(
    *, organization: Organization, actor: Any, definition: dict[str, Any], installed_from: str = ""
) -> WorkflowDraft:
    """Keep a workflow definition (the marketplace's shape) as a draft the organization completes later.

    The definition is trusted to have passed the marketplace's schema; what cannot be carried over is
    listed in the draft's notes rather than refused, since the organization reviews it before it runs.
    """
    source = definition.get("source") or {}
    target = definition.get("target") or {}
    mappings, notes = _draft_mappings(definition.get("mapping"))
    policy = _DRAFT_CONFLICT_POLICIES.get(str(definition.get("conflictPolicy") or "source_wins"))
    if policy is None:
        notes.append(f"The conflict policy {definition.get('conflictPolicy')!r} is unknown; source wins instead.")
    every = (definition.get("schedule") or {}).get("everyMinutes")
    with transaction.atomic():
        draft = WorkflowDraft.objects.create(
            organization=organization,
            name=str(definition.get("name") or "Installed workflow")[:120],
            description=str(definition.get("description") or ""),
            source_provider=str(source.get("connector") or "")[:40],
            source_object_type=str(source.get("object") or "")[:80],
            target_provider=str(target.get("connector") or "")[:40],
            target_object_type=str(target.get("object") or "")[:80],
            direction=_DRAFT_DIRECTIONS.get(str(definition.get("direction")), Direction.ONE_WAY),
            mappings=mappings,
            conflict_policy=policy or ConflictPolicy.SOURCE_WINS,
            interval_seconds=int(every) * 60 if isinstance(every, int) and every > 0 else 300,
            notes=notes,
            installed_from=installed_from,
        )
        record_audit_event(
            actor=actor,
            action="sync.workflow_draft_created",
            target=draft,
            data={"installed_from": installed_from, "notes": len(notes)},
        )
    return draft


def complete_workflow_draft(
    *,
    draft: WorkflowDraft,
    actor: Any,
    source_connector: Connector,
    target_connector: Connector,
    name: str = "",
    paused: bool = True,
) -> IntegrationWorkflow:
    """Turn an open draft into a workflow between two connectors of the providers it names.

    The workflow starts paused unless told otherwise: someone should look at the first run's plan before
    an installed definition moves data. WorkflowInvalid lists everything that does not fit.
    """
    if draft.status != WorkflowDraftStatus.OPEN:
        raise Conflict("Only an open draft can be completed.", code="draft_not_open")
    errors = [
        _error(f"{side}_connector", f"This draft needs a {provider} connector.", "wrong_provider")
        for side, connector, provider in (
            ("source", source_connector, draft.source_provider),
            ("target", target_connector, draft.target_provider),
        )
        if connector.provider != provider or connector.organization_id != draft.organization_id
    ]
    if errors:
        raise WorkflowInvalid(errors)
    with transaction.atomic():
        locked = WorkflowDraft.objects.select_for_update().get(pk=draft.pk)
        if locked.status != WorkflowDraftStatus.OPEN:
            raise Conflict("Only an open draft can be completed.", code="draft_not_open")
        workflow = create_workflow(
            organization=locked.organization,
            actor=actor,
            name=name or locked.name,
            description=locked.description,
            source_connector=source_connector,
            source_object_type=locked.source_object_type,
            target_connector=target_connector,
            target_object_type=locked.target_object_type,
            mappings=locked.mappings,
            direction=locked.direction,
            conflict_policy=locked.conflict_policy,
            interval_seconds=locked.interval_seconds,
            paused=paused,
        )
        locked.status = WorkflowDraftStatus.COMPLETED
        locked.workflow = workflow
        locked.save(update_fields=["status", "workflow", "updated_at"])
        record_audit_event(
            actor=actor, action="sync.workflow_draft_completed", target=locked, data={"workflow": str(workflow.pk)}
        )
    draft.refresh_from_db()
    return workflow


def withdraw_workflow_drafts(*, organization: Organization, installed_from: str) -> int:
    """The installation is gone: its open drafts are withdrawn (workflows already made from them stay)."""
    with transaction.atomic():
        drafts = list(
            WorkflowDraft.objects.select_for_update().filter(
                organization=organization, installed_from=installed_from, status=WorkflowDraftStatus.OPEN
            )
        )
        for draft in drafts:
            draft.status = WorkflowDraftStatus.WITHDRAWN
            draft.save(update_fields=["status", "updated_at"])
            record_audit_event(actor=None, action="sync.workflow_draft_withdrawn", target=draft)
    return len(drafts)


# Fields that decide which records a workflow's links pair up: fixed once records are linked.
PAIRING_FIELDS = ("source_connector", "source_object_type", "target_connector", "target_object_type")


def update_workflow(*, workflow: IntegrationWorkflow, actor: Any, **changes: Any) -> IntegrationWorkflow:
    """Change a workflow's definition (checked again in full) and rewrite its schedule."""
    unknown = set(changes) - set(DEFINITION_FIELDS)
    if unknown:
        raise BusinessRuleViolation(f"Cannot change {', '.join(sorted(unknown))} here.", code="not_updatable")
    definition = _definition_of(workflow)
    for key, value in changes.items():
        setattr(definition, key, value)
    if changes.get("schedule_kind") == ScheduleKind.INTERVAL and "interval_seconds" not in changes:
        definition.interval_seconds = definition.interval_seconds or 300
    definition = _check_definition(definition, workflow.organization)
    changed = [name for name in DEFINITION_FIELDS if getattr(workflow, name) != getattr(definition, name)]
    if not changed:
        return workflow
    moved = [name for name in changed if name in PAIRING_FIELDS]
    if moved and workflow.links.exists():
        raise Conflict(
            "Records are already linked through this workflow; create a new workflow for other connectors or types.",
            code="pairing_fixed",
            field=moved[0],
        )
    if (
        definition.name != workflow.name
        and IntegrationWorkflow.objects.filter(organization_id=workflow.organization_id, name=definition.name)
        .exclude(pk=workflow.pk)
        .exists()
    ):
        raise WorkflowInvalid([_error("name", "A workflow with that name exists.", "name_taken")])
    with transaction.atomic():
        for name in changed:
            setattr(workflow, name, getattr(definition, name))
        workflow.save()
        workflow.periodic_task = schedules.write_periodic_task(workflow)
        workflow.save(update_fields=["periodic_task"])
        record_audit_event(actor=actor, action="sync.workflow_updated", target=workflow, data={"fields": changed})
    return workflow


def delete_workflow(*, workflow: IntegrationWorkflow, actor: Any) -> None:
    """Delete a workflow, its schedule, links, runs and conflicts (the data-movement trail stays)."""
    with transaction.atomic():
        record_audit_event(
            actor=actor, action="sync.workflow_deleted", target=workflow, data={"links": workflow.links.count()}
        )
        schedules.delete_periodic_task(workflow)
        workflow.delete()


def set_workflow_paused(*, workflow: IntegrationWorkflow, actor: Any, paused: bool) -> IntegrationWorkflow:
    """Pause (schedule disabled, webhooks ignored, a running run stops at its next page) or resume."""
    status = WorkflowStatus.PAUSED if paused else WorkflowStatus.ACTIVE
    if workflow.status == status:
        return workflow
    with transaction.atomic():
        workflow.status = status
        workflow.save(update_fields=["status", "updated_at"])
        workflow.periodic_task = schedules.write_periodic_task(workflow)
        workflow.save(update_fields=["periodic_task"])
        record_audit_event(
            actor=actor, action="sync.workflow_paused" if paused else "sync.workflow_resumed", target=workflow
        )
    return workflow


def request_workflow_run(*, workflow: IntegrationWorkflow, actor: Any) -> None:
    """Queue a run now (the operator's "run now"); it reads both change feeds like a scheduled run."""
    if not workflow.is_active:
        raise Conflict("The workflow is paused; resume it first.", code="workflow_paused")
    with transaction.atomic():
        record_audit_event(actor=actor, action="sync.workflow_run_requested", target=workflow)
        actor_id = str(actor.pk) if actor is not None else None
        transaction.on_commit(lambda: _queue_run(str(workflow.pk), RunTrigger.MANUAL, actor_id))


def _queue_run(workflow_id: str, trigger: str, actor_id: str | None) -> None:
    from apps.sync.tasks import run_workflow_task

    run_workflow_task.delay(workflow_id, trigger=trigger, actor_id=actor_id)


def _queue_records(
    workflow_id: str, refs: list[dict[str, Any]], trigger: str, actor_id: str | None, origin: Any
) -> None:
    from apps.sync.tasks import sync_records_task

    sync_records_task.delay(workflow_id, refs, trigger=trigger, actor_id=actor_id, origin=origin)


# -- Runs --------------------------------------------------------------------------------------------------


def run_workflow(
    *,
    workflow_id: Any,
    trigger: str,
    actor: Any = None,
    refs: list[dict[str, Any]] | None = None,
    operation: str | None = None,
    origin: dict[str, Any] | None = None,
    task_id: str = "",
) -> SyncRun | None:
    """Run a workflow once, under its lease. None when it no longer exists or is paused.

    Raises WorkflowBusy while another run holds the lease (the caller retries or lets the schedule catch up).
    """
    token = acquire_run_lease(workflow_id=workflow_id)
    if token is None:
        raise WorkflowBusy(str(workflow_id))
    try:
        workflow = (
            IntegrationWorkflow.objects.select_related(
                "source_connector__manifest", "target_connector__manifest", "organization"
            )
            .filter(pk=workflow_id)
            .first()
        )
        if workflow is None or not workflow.is_active:
            return None
        now = timezone.now()
        # A run still marked running while we hold the lease died with its worker.
        SyncRun.objects.filter(workflow=workflow, status=RunStatus.RUNNING).update(
            status=RunStatus.INTERRUPTED,
            completed_at=now,
            detail="The worker running it stopped; the next run resumed from the committed cursors.",
            updated_at=now,
        )
        if operation is None:
            if refs is not None:
                operation = RunOperation.RECORDS
            else:
                operation = RunOperation.INCREMENTAL if workflow.source_cursor else RunOperation.INITIAL
        run = SyncRun.objects.create(
            organization_id=workflow.organization_id,
            workflow=workflow,
            operation_type=operation,
            trigger=trigger,
            triggered_by=acting_person(actor),
            task_id=task_id,
            started_at=now,
            heartbeat_at=now,
        )
        IntegrationWorkflow.objects.filter(pk=workflow.pk).update(last_run_at=now)
        return _execute(workflow, run, token, actor, refs, operation, origin)
    finally:
        release_run_lease(workflow_id=workflow_id, token=token)


def _execute(
    workflow: IntegrationWorkflow,
    run: SyncRun,
    token: str,
    actor: Any,
    refs: list[dict[str, Any]] | None,
    operation: str,
    origin: dict[str, Any] | None,
) -> SyncRun:
    try:
        engine = SyncEngine(workflow=workflow, run=run, lease_token=token, actor=actor, origin=origin)
    except MappingError as exc:
        return _close_run(run, RunStatus.FAILED, f"The workflow's mapping is not valid: {exc}")
    try:
        with engine:
            if operation == RunOperation.RESOLUTION:
                engine.apply_resolutions()
            elif refs is not None:
                # An operator's retry also sends again a create the vendor refused before.
                engine.run_records(refs, retry_refused=run.trigger == RunTrigger.MANUAL)
            else:
                engine.run_feeds()
    except RunAborted as exc:
        engine.finish(status=RunStatus.FAILED, detail=str(exc))
    except ConnectorError as exc:
        engine.finish(status=RunStatus.FAILED, detail=f"{type(exc).__name__}: {exc.message}")
    except BaseException as exc:
        # Time limits and bugs: the run row must not stay "running"; the error still reaches Celery.
        engine.finish(status=RunStatus.FAILED, detail=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    else:
        engine.finish(status=engine.outcome(), detail=" ".join(engine.notes))
        if run.status == RunStatus.SUCCEEDED:
            IntegrationWorkflow.objects.filter(pk=workflow.pk).update(last_success_at=run.completed_at)
    for connector in (workflow.source_connector, workflow.target_connector):
        mark_connector_synced(connector=connector, at=run.completed_at)
    _notify_trouble(workflow, run)
    return run


def _notify_trouble(workflow: IntegrationWorkflow, run: SyncRun) -> None:
    """Send a stopped run, or one that left records failing, to the channels the organization routes it to."""
    if run.status not in (RunStatus.FAILED, RunStatus.PARTIAL):
        return
    failed = run.status == RunStatus.FAILED
    classes = ", ".join(f"{name} x{count}" for name, count in sorted(run.error_counts.items()))
    notify_organization(
        organization_id=workflow.organization_id,
        event_type="sync.run_failed" if failed else "sync.records_failed",
        notification=Notification(
            title=f"Sync {'stopped' if failed else 'left records failing'}: {workflow.name}",
            text=run.detail or f"{run.records_failed} records could not be carried across ({classes}).",
            severity="error" if failed else "warning",
            link=f"{settings.SITE_URL}/admin/sync/syncrun/{run.pk}/change/",
            facts=(
                ("Run", str(run.pk)),
                ("Processed", str(run.records_processed)),
                ("Failed", str(run.records_failed)),
            ),
        ),
    )


def _close_run(run: SyncRun, status: str, detail: str) -> SyncRun:
    now = timezone.now()
    run.status, run.detail, run.completed_at = status, detail, now
    run.duration_ms = int((now - run.started_at).total_seconds() * 1000)
    run.save(update_fields=["status", "detail", "completed_at", "duration_ms", "updated_at"])
    return run


# -- Reconciling -------------------------------------------------------------------------------------------


@dataclass
class Reconciliation:
    run: SyncRun
    before: ReconcileReport
    after: ReconcileReport | None = None

    @property
    def final(self) -> ReconcileReport:
        return self.after or self.before


def reconcile_workflow(*, workflow: IntegrationWorkflow, actor: Any = None, repair: bool = False) -> Reconciliation:
    """Compare both sides in full (and with `repair`, fix what differs), under the workflow's lease."""
    if repair and not workflow.is_active:
        raise Conflict("The workflow is paused; resume it before repairing.", code="workflow_paused")
    token = acquire_run_lease(workflow_id=workflow.pk)
    if token is None:
        raise WorkflowBusy(str(workflow.pk))
    try:
        now = timezone.now()
        run = SyncRun.objects.create(
            organization_id=workflow.organization_id,
            workflow=workflow,
            operation_type=RunOperation.RECONCILE,
            trigger=RunTrigger.MANUAL if actor is not None else RunTrigger.SYSTEM,
            triggered_by=acting_person(actor),
            started_at=now,
            heartbeat_at=now,
        )
        engine = SyncEngine(workflow=workflow, run=run, lease_token=token, actor=actor)
        try:
            with engine:
                result = Reconciliation(run=run, before=reconciler.compare(engine))
                if repair and result.before.agreement_percent < 100:
                    reconciler.repair(engine, result.before)
                    result.after = reconciler.compare(engine)
        except (RunAborted, ConnectorError, reconciler.IncompleteRead) as exc:
            engine.finish(status=RunStatus.FAILED, detail=str(exc))
            raise
        engine.counts.stats["reconcile"] = {
            "before": result.before.as_dict(),
            "after": result.after.as_dict() if result.after else None,
        }
        engine.finish(
            status=engine.outcome(),
            detail=f"Agreement {result.final.agreement_percent}% of {result.final.expected} records.",
        )
        with transaction.atomic():
            record_audit_event(
                actor=actor,
                action="sync.workflow_reconciled",
                target=workflow,
                data={
                    "run": str(run.pk),
                    "repair": repair,
                    "agreement_before": result.before.agreement_percent,
                    "agreement_after": result.final.agreement_percent,
                },
            )
        return result
    finally:
        release_run_lease(workflow_id=workflow.pk, token=token)


# -- Webhooks ----------------------------------------------------------------------------------------------


def consume_webhook_delivery(*, delivery: WebhookDelivery) -> int:
    """Queue a near-real-time run of every active workflow the delivery's records belong to."""
    affected = [ref for ref in (delivery.affected or []) if isinstance(ref, dict) and ref.get("id")]
    if not affected:
        return 0
    workflows = IntegrationWorkflow.objects.filter(
        organization_id=delivery.organization_id, status=WorkflowStatus.ACTIVE
    ).filter(Q(source_connector_id=delivery.connector_id) | Q(target_connector_id=delivery.connector_id))
    queued = 0
    for workflow in workflows:
        refs: list[dict[str, Any]] = []
        for side in (Side.SOURCE, Side.TARGET):
            if getattr(workflow, f"{side}_connector_id") != delivery.connector_id:
                continue
            object_type = getattr(workflow, f"{side}_object_type")
            refs += [
                {"side": side, "id": str(ref["id"]), "deleted": bool(ref.get("deleted"))}
                for ref in affected
                if ref.get("object_type") == object_type
            ]
        if refs:
            origin = {"delivery": str(delivery.pk), "event": delivery.event_type}
            transaction.on_commit(partial(_queue_records, str(workflow.pk), refs, RunTrigger.WEBHOOK, None, origin))
            queued += 1
    return queued


# -- Conflicts ---------------------------------------------------------------------------------------------


def resolve_conflict(*, conflict: SyncConflict, actor: Any, choice: str, value: Any = MISSING) -> SyncConflict:
    """Record an operator's decision on a conflict and queue it to be written to the systems."""
    if choice not in ConflictChoice.values:
        raise BusinessRuleViolation(
            f"Choose one of {', '.join(ConflictChoice.values)}.", field="choice", code="invalid_choice"
        )
    if choice == ConflictChoice.CUSTOM and value is MISSING:
        raise BusinessRuleViolation("Give the value to write.", field="value", code="required")
    if choice != ConflictChoice.CUSTOM and value is not MISSING:
        raise BusinessRuleViolation("A value is only given with the `custom` choice.", field="value", code="invalid")
    with transaction.atomic():
        locked = SyncConflict.objects.select_for_update().select_related("workflow").get(pk=conflict.pk)
        if locked.status != ConflictStatus.OPEN:
            raise Conflict(f"The conflict is {locked.get_status_display().lower()} already.", code="not_open")
        if choice == ConflictChoice.CUSTOM:
            _check_custom_value(locked, value)
        locked.status = ConflictStatus.RESOLVED
        locked.choice = choice
        locked.resolved_value = value if choice == ConflictChoice.CUSTOM else None
        locked.resolved_by = acting_person(actor)
        locked.resolved_at = timezone.now()
        locked.save()
        record_audit_event(
            actor=actor,
            action="sync.conflict_resolved",
            target=locked,
            data={"workflow": str(locked.workflow_id), "field": locked.field, "choice": choice},
        )
        workflow_id, actor_id = str(locked.workflow_id), (str(actor.pk) if actor is not None else None)
        if locked.workflow.is_active:
            transaction.on_commit(lambda: _queue_resolutions(workflow_id, actor_id))
    return locked


def _check_custom_value(conflict: SyncConflict, value: Any) -> None:
    with provider_for(conflict.workflow.target_connector) as provider:
        schema = provider.object_type(conflict.workflow.target_object_type).schema
    probe: dict[str, Any] = {}
    set_path(probe, conflict.field, value)
    problems = record_errors(probe, schema, partial=True)
    if problems:
        raise BusinessRuleViolation("; ".join(problems), field="value", code="schema_violation")


def _queue_resolutions(workflow_id: str, actor_id: str | None) -> None:
    from apps.sync.tasks import apply_conflict_resolutions_task

    apply_conflict_resolutions_task.delay(workflow_id, actor_id=actor_id)


# -- Failed records ----------------------------------------------------------------------------------------


def retry_failed_records(*, workflow: IntegrationWorkflow, actor: Any, failed: list[FailedRecord]) -> int:
    """Queue a run for the named failed records (after their data or the mapping was fixed)."""
    if not workflow.is_active:
        raise Conflict("The workflow is paused; resume it first.", code="workflow_paused")
    open_ones = [item for item in failed if item.status == FailedRecordStatus.OPEN and item.workflow_id == workflow.pk]
    if not open_ones:
        raise Conflict("Nothing to retry: the record is not failing.", code="not_failing")
    refs = [item.as_ref() for item in open_ones]
    with transaction.atomic():
        record_audit_event(
            actor=actor, action="sync.failed_records_retried", target=workflow, data={"records": len(refs)}
        )
        actor_id = str(actor.pk) if actor is not None else None
        transaction.on_commit(lambda: _queue_records(str(workflow.pk), refs, RunTrigger.MANUAL, actor_id, None))
    return len(refs)


def discard_failed_record(*, failed: FailedRecord, actor: Any) -> FailedRecord:
    """Stop retrying a record an operator decided to leave behind."""
    if failed.status != FailedRecordStatus.OPEN:
        raise Conflict("The record is not failing.", code="not_failing")
    with transaction.atomic():
        failed.status = FailedRecordStatus.DISCARDED
        failed.resolved_at = timezone.now()
        failed.save(update_fields=["status", "resolved_at", "updated_at"])
        record_audit_event(
            actor=actor,
            action="sync.failed_record_discarded",
            target=failed,
            data={"workflow": str(failed.workflow_id), "side": failed.side, "record_id": failed.record_id},
        )
    return failed


def user_by_id(user_id: str | None) -> Any:
    if not user_id:
        return None
    return get_user_model().objects.filter(pk=user_id).first()
