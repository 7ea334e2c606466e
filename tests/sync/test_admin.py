"""The operators' admin: every sync model lists cheaply, and decisions made there go through the services."""

from __future__ import annotations

import pytest
from django.test import Client
from django_celery_beat.models import PeriodicTask

from apps.sync.merge import ConflictPolicy
from apps.sync.models import Conflict, ConflictStatus, Direction, FailedRecord, FailedRecordStatus, WorkflowStatus
from tests.factories.accounts import UserFactory
from tests.factories.sync import (
    ConflictFactory,
    DataMovementFactory,
    FailedRecordFactory,
    IntegrationWorkflowFactory,
    RecordLinkFactory,
    SyncRunFactory,
    WorkflowDraftFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client() -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.mark.parametrize(
    ("model", "make"),
    [
        ("integrationworkflow", lambda: IntegrationWorkflowFactory()),
        ("syncrun", lambda: SyncRunFactory(progress_done=5, progress_estimated=10)),
        ("recordlink", lambda: RecordLinkFactory()),
        ("conflict", lambda: ConflictFactory()),
        ("failedrecord", lambda: FailedRecordFactory()),
        ("datamovement", lambda: DataMovementFactory()),
        ("workflowdraft", lambda: WorkflowDraftFactory()),
    ],
)
def test_each_list_and_detail_page_loads_in_a_bounded_number_of_queries(
    staff_client, django_assert_max_num_queries, model, make
):
    # given
    rows = [make() for _ in range(4)]
    # when
    with django_assert_max_num_queries(14):
        listing = staff_client.get(f"/admin/sync/{model}/")
    detail = staff_client.get(f"/admin/sync/{model}/{rows[0].pk}/change/")
    # then
    assert listing.status_code == 200
    assert detail.status_code == 200


def test_a_running_runs_progress_shows_in_the_list(staff_client):
    SyncRunFactory(status="running", progress_done=40, progress_estimated=160)

    page = staff_client.get("/admin/sync/syncrun/").content.decode()

    assert "40 / 160 (25.0%)" in page


def open_conflict(systems, make_workflow, run_sync):
    left, right = systems
    issue = left.add_issue("Printer", body="Floor 2")
    workflow = make_workflow(direction=Direction.BIDIRECTIONAL, conflict_policy=ConflictPolicy.MANUAL)
    run_sync(workflow)
    [number] = right.issues
    left.touch_issue(issue["number"], body="Floor 3")
    right.touch_issue(number, body="Floor 5")
    run_sync(workflow)
    return Conflict.objects.get(workflow=workflow), issue["number"], number


def test_an_operator_keeps_the_targets_value_with_an_admin_action(
    staff_client, systems, make_workflow, run_sync, django_capture_on_commit_callbacks
):
    # given
    left, right = systems
    conflict, source_number, target_number = open_conflict(systems, make_workflow, run_sync)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            "/admin/sync/conflict/", {"action": "keep_target", "_selected_action": [str(conflict.pk)]}
        )
    # then
    assert response.status_code == 302
    conflict.refresh_from_db()
    assert conflict.status == ConflictStatus.APPLIED
    assert left.issues[source_number]["body"] == right.issues[target_number]["body"] == "Floor 5"


def test_an_operator_writes_another_value_from_the_conflict_page(
    staff_client, systems, make_workflow, run_sync, django_capture_on_commit_callbacks
):
    # given
    left, right = systems
    conflict, source_number, target_number = open_conflict(systems, make_workflow, run_sync)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            f"/admin/sync/conflict/{conflict.pk}/change/", {"choice": "custom", "resolved_value": '"Floor 4"'}
        )
    # then
    assert response.status_code == 302
    conflict.refresh_from_db()
    assert (conflict.status, conflict.choice) == (ConflictStatus.APPLIED, "custom")
    assert left.issues[source_number]["body"] == right.issues[target_number]["body"] == "Floor 4"


def test_a_failed_record_is_retried_from_the_admin(
    staff_client, systems, make_workflow, run_sync, django_capture_on_commit_callbacks
):
    # given
    left, right = systems
    bad = left.add_issue("x" * 300)
    workflow = make_workflow()
    run_sync(workflow)
    failed = FailedRecord.objects.get(workflow=workflow)
    left.touch_issue(bad["number"], title="Fixed")
    # when
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post("/admin/sync/failedrecord/", {"action": "retry", "_selected_action": [str(failed.pk)]})
    # then
    failed.refresh_from_db()
    assert failed.status == FailedRecordStatus.RESOLVED
    assert [issue["title"] for issue in right.issues.values()] == ["Fixed"]


def test_pausing_from_the_admin_disables_the_schedule(staff_client, make_workflow):
    workflow = make_workflow()

    staff_client.post("/admin/sync/integrationworkflow/", {"action": "pause", "_selected_action": [str(workflow.pk)]})

    workflow.refresh_from_db()
    assert workflow.status == WorkflowStatus.PAUSED
    assert not PeriodicTask.objects.get(pk=workflow.periodic_task_id).enabled


def test_editing_a_workflow_in_the_admin_goes_through_the_checks_and_rewrites_the_schedule(staff_client, make_workflow):
    # given
    workflow = make_workflow()
    page = staff_client.get(f"/admin/sync/integrationworkflow/{workflow.pk}/change/")
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    data = {k: ("" if v is None else v) for k, v in data.items()}
    # when the interval changes, and then a mapping that does not fit the schema is tried
    staff_client.post(f"/admin/sync/integrationworkflow/{workflow.pk}/change/", {**data, "interval_seconds": "600"})
    response = staff_client.post(
        f"/admin/sync/integrationworkflow/{workflow.pk}/change/",
        {**data, "mappings": '[{"source": "title", "target": "nope"}]'},
        follow=True,
    )
    # then the first went through the service, the second was refused with the reason
    workflow.refresh_from_db()
    assert workflow.interval_seconds == 600
    assert PeriodicTask.objects.get(pk=workflow.periodic_task_id).interval.every == 600
    assert workflow.mappings[0]["target"] == "title"
    assert "not a field of the" in response.content.decode()
