"""Defining workflows: the mapping checked against both sides' schemas, the schedule written for beat."""

from __future__ import annotations

import json

import pytest
from django_celery_beat.models import PeriodicTask

from apps.core.exceptions import BusinessRuleViolation, Conflict
from apps.security.models import AuditEvent
from apps.sync import services
from apps.sync.models import DeletePolicy, Direction, IntegrationWorkflow, ScheduleKind, WorkflowStatus
from tests.factories.accounts import OrganizationFactory

pytestmark = pytest.mark.django_db


def _errors(excinfo):
    return {(error["field"], error["code"]) for error in excinfo.value.errors}


def test_a_workflow_is_scheduled_as_a_periodic_task_for_beat(make_workflow):
    # when
    workflow = make_workflow(interval_seconds=120)
    # then
    task = PeriodicTask.objects.get(pk=workflow.periodic_task_id)
    assert task.task == "apps.sync.tasks.run_workflow_task"
    assert json.loads(task.args) == [str(workflow.pk)]
    assert task.interval.every == 120
    assert task.crontab is None
    assert task.enabled
    assert AuditEvent.objects.filter(action="sync.workflow_created", target_id=str(workflow.pk)).exists()


def test_a_cron_schedule_is_written_as_a_crontab(make_workflow):
    workflow = make_workflow(schedule_kind=ScheduleKind.CRON, cron_expression="*/15  8-18 * * mon-fri")

    task = PeriodicTask.objects.get(pk=workflow.periodic_task_id)
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("*/15", "8-18", "mon-fri")
    assert task.interval is None
    assert workflow.cron_expression == "*/15 8-18 * * mon-fri"
    assert workflow.interval_seconds is None


def test_pausing_and_resuming_switch_the_periodic_task(make_workflow, owner):
    # given
    workflow = make_workflow()
    # when
    services.set_workflow_paused(workflow=workflow, actor=owner, paused=True)
    # then
    assert workflow.status == WorkflowStatus.PAUSED
    assert not PeriodicTask.objects.get(pk=workflow.periodic_task_id).enabled
    # when
    services.set_workflow_paused(workflow=workflow, actor=owner, paused=False)
    # then
    assert PeriodicTask.objects.get(pk=workflow.periodic_task_id).enabled
    actions = list(AuditEvent.objects.filter(target_id=str(workflow.pk)).values_list("action", flat=True))
    assert actions[-2:] == ["sync.workflow_paused", "sync.workflow_resumed"]


def test_changing_the_schedule_rewrites_the_same_periodic_task(make_workflow, owner):
    # given
    workflow = make_workflow()
    task_id = workflow.periodic_task_id
    # when
    services.update_workflow(
        workflow=workflow, actor=owner, schedule_kind=ScheduleKind.CRON, cron_expression="0 * * * *"
    )
    # then
    assert workflow.periodic_task_id == task_id
    task = PeriodicTask.objects.get(pk=task_id)
    assert task.crontab.minute == "0"
    assert task.interval is None


def test_deleting_a_workflow_removes_its_schedule(make_workflow, owner):
    workflow = make_workflow()
    task_id = workflow.periodic_task_id

    services.delete_workflow(workflow=workflow, actor=owner)

    assert not PeriodicTask.objects.filter(pk=task_id).exists()
    assert not IntegrationWorkflow.objects.exists()


def test_a_mapping_is_checked_against_both_sides_schemas_with_an_error_per_field(make_workflow):
    # when
    with pytest.raises(BusinessRuleViolation) as excinfo:
        make_workflow(
            direction=Direction.BIDIRECTIONAL,
            mappings=[
                {"source": "title", "target": "title"},
                {"source": "nope", "target": "body"},
                {"source": "state", "target": "state", "value_map": {"open": "opened", "closed": "closed"}},
                {"source": "number", "target": "comments"},
                {"source": "labels", "target": "title", "direction": "sideways"},
            ],
        )
    # then
    assert _errors(excinfo) == {
        ("mappings[4].direction", "invalid_choice"),
    }
    # when the mapping parses, the schemas are consulted
    with pytest.raises(BusinessRuleViolation) as excinfo:
        make_workflow(
            direction=Direction.BIDIRECTIONAL,
            mappings=[
                {"source": "title", "target": "title"},
                {"source": "nope", "target": "body"},
                {"source": "state", "target": "state", "value_map": {"open": "opened", "closed": "closed"}},
                {"source": "number", "target": "comments"},
            ],
        )
    # then every problem is named
    errors = _errors(excinfo)
    assert ("mappings[1]", "unknown_field") in errors
    assert ("mappings[2].value_map", "not_in_enum") in errors
    assert ("mappings[3]", "read_only") in errors
    assert excinfo.value.code == "workflow_invalid"


def test_a_required_target_field_left_unmapped_is_refused(make_workflow):
    with pytest.raises(BusinessRuleViolation) as excinfo:
        make_workflow(mappings=[{"source": "body", "target": "body"}])

    assert ("target.title", "required_unmapped") in _errors(excinfo)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"name": "  "}, ("name", "required")),
        ({"direction": "sideways"}, ("direction", "invalid_choice")),
        ({"conflict_policy": "coin_flip"}, ("conflict_policy", "invalid_choice")),
        ({"delete_policy": "shred"}, ("delete_policy", "invalid_choice")),
        ({"interval_seconds": 1}, ("interval_seconds", "min_value")),
        ({"schedule_kind": ScheduleKind.CRON, "cron_expression": "61 * * * *"}, ("cron_expression", "invalid_cron")),
        ({"schedule_kind": ScheduleKind.CRON, "cron_expression": "* * *"}, ("cron_expression", "invalid_cron")),
        ({"schedule_kind": "hourly"}, ("schedule_kind", "invalid_choice")),
        ({"source_object_type": "pull_request"}, ("source_object_type", "unsupported_object_type")),
        ({"delete_policy": DeletePolicy.PROPAGATE}, ("target_object_type", "unsupported_object_type")),
        ({"conflict_policy": "field_authority"}, ("field_authority", "required")),
        ({"field_authority": {"nope": "source"}}, ("field_authority.nope", "unknown_field")),
        ({"field_authority": {"title": "both"}}, ("field_authority.title", "invalid_choice")),
        ({"tombstone_values": {"target": {"state": "gone"}}}, ("tombstone_values.target", "schema_violation")),
        ({"tombstone_values": {"target": {"colour": "red"}}}, ("tombstone_values.target.colour", "unknown_field")),
        ({"tombstone_values": {"source": {"state": "closed"}}}, ("tombstone_values.source", "one_way_only")),
        ({"tombstone_values": {"elsewhere": {}}}, ("tombstone_values", "invalid")),
        ({"mappings": []}, ("mappings", "required")),
    ],
)
def test_a_bad_definition_is_refused_with_the_field_that_is_wrong(make_workflow, overrides, expected):
    with pytest.raises(BusinessRuleViolation) as excinfo:
        make_workflow(**overrides)

    assert expected in _errors(excinfo)
    assert not IntegrationWorkflow.objects.exists()
    assert not PeriodicTask.objects.filter(task="apps.sync.tasks.run_workflow_task").exists()


def test_a_connector_of_another_organization_is_refused(make_workflow, systems, connect):
    foreign = connect(systems[1], "Theirs", organization=OrganizationFactory())

    with pytest.raises(BusinessRuleViolation) as excinfo:
        make_workflow(target_connector=foreign)

    assert ("target_connector", "does_not_exist") in _errors(excinfo)


def test_two_workflows_of_an_organization_cannot_share_a_name(make_workflow):
    make_workflow()

    with pytest.raises(BusinessRuleViolation) as excinfo:
        make_workflow()

    assert ("name", "name_taken") in _errors(excinfo)


def test_the_connectors_of_a_workflow_with_linked_records_are_fixed(make_workflow, systems, connect, run_sync, owner):
    # given
    left, _right = systems
    left.add_issue("Printer")
    workflow = make_workflow()
    run_sync(workflow)
    other = connect(systems[1], "Another GitHub")
    # when / then
    with pytest.raises(Conflict) as excinfo:
        services.update_workflow(workflow=workflow, actor=owner, target_connector=other)
    assert excinfo.value.field == "target_connector"


def test_an_update_is_checked_in_full_like_a_create(make_workflow, owner):
    workflow = make_workflow()

    with pytest.raises(BusinessRuleViolation) as excinfo:
        services.update_workflow(workflow=workflow, actor=owner, mappings=[{"source": "title", "target": "nope"}])

    assert ("mappings[0]", "unknown_field") in _errors(excinfo)
    workflow.refresh_from_db()
    assert workflow.mappings[0] == {"source": "title", "target": "title", "required": True}


def test_running_now_queues_a_run_and_is_refused_while_paused(
    make_workflow, owner, systems, django_capture_on_commit_callbacks
):
    # given
    left, right = systems
    left.add_issue("Printer")
    workflow = make_workflow()
    # when
    with django_capture_on_commit_callbacks(execute=True):
        services.request_workflow_run(workflow=workflow, actor=owner)
    # then
    run = workflow.runs.get()
    assert (run.trigger, run.triggered_by) == ("manual", owner)
    assert [issue["title"] for issue in right.issues.values()] == ["Printer"]
    # when paused
    services.set_workflow_paused(workflow=workflow, actor=owner, paused=True)
    with pytest.raises(Conflict):
        services.request_workflow_run(workflow=workflow, actor=owner)
