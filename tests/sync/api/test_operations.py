"""Runs, conflicts, failed records and the data-movement trail through the API."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.accounts.roles import Role
from apps.sync.merge import ConflictPolicy
from apps.sync.models import Conflict, ConflictStatus, DataMovement, Direction, FailedRecordStatus
from tests.factories.sync import (
    ConflictFactory,
    DataMovementFactory,
    FailedRecordFactory,
    IntegrationWorkflowFactory,
    SyncRunFactory,
)

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_runs_are_listed_with_counts_errors_and_live_progress(
    owner_client, organization, django_assert_max_num_queries
):
    # given
    workflow = IntegrationWorkflowFactory(organization=organization)
    SyncRunFactory.create_batch(3, workflow=workflow)
    SyncRunFactory(
        workflow=workflow,
        status="running",
        progress_done=40,
        progress_estimated=160,
        errors=[{"class": "validation", "message": "title: too long", "record_id": "7"}],
        error_counts={"validation": 1},
    )
    # when
    with django_assert_max_num_queries(5):
        response = owner_client.get("/api/v1/sync-runs/", {"workflow": str(workflow.pk)})
    # then
    assert response.status_code == 200
    rows = response.json()["results"]
    assert len(rows) == 4
    running = next(row for row in rows if row["status"] == "running")
    assert (running["progress_percent"], running["error_counts"]) == (25.0, {"validation": 1})


def test_an_operator_resolves_a_conflict_through_the_api_and_it_is_applied(
    systems, make_workflow, run_sync, make_member, organization, django_capture_on_commit_callbacks
):
    # given a real conflict between the two systems
    left, right = systems
    issue = left.add_issue("Printer", body="Floor 2")
    workflow = make_workflow(direction=Direction.BIDIRECTIONAL, conflict_policy=ConflictPolicy.MANUAL)
    run_sync(workflow)
    [number] = right.issues
    left.touch_issue(issue["number"], body="Floor 3")
    right.touch_issue(number, body="Floor 5")
    run_sync(workflow)
    conflict = Conflict.objects.get(workflow=workflow)
    operator = client_for(make_member(organization, Role.OPERATOR))
    # when
    listed = operator.get("/api/v1/sync-conflicts/", {"status": "open", "workflow": str(workflow.pk)}).json()
    with django_capture_on_commit_callbacks(execute=True):
        response = operator.post(
            f"/api/v1/sync-conflicts/{conflict.pk}/resolve/", {"choice": "custom", "value": "Floor 4"}, format="json"
        )
    # then
    assert [row["id"] for row in listed["results"]] == [str(conflict.pk)]
    assert listed["results"][0]["source_value"] == "Floor 3"
    assert response.status_code == 200
    assert response.json()["choice"] == "custom"
    conflict.refresh_from_db()
    assert conflict.status == ConflictStatus.APPLIED
    assert left.issues[issue["number"]]["body"] == right.issues[number]["body"] == "Floor 4"
    again = operator.post(f"/api/v1/sync-conflicts/{conflict.pk}/resolve/", {"choice": "source"}, format="json")
    assert again.status_code == 409


@pytest.mark.parametrize(
    ("payload", "status", "field"),
    [
        ({"choice": "both"}, 400, "choice"),
        ({}, 400, "choice"),
        ({"choice": "custom"}, 422, "value"),
        ({"choice": "target", "value": 1}, 422, "value"),
    ],
)
def test_a_bad_resolution_is_refused_with_the_field(owner_client, organization, payload, status, field):
    conflict = ConflictFactory(link__workflow=IntegrationWorkflowFactory(organization=organization))

    response = owner_client.post(f"/api/v1/sync-conflicts/{conflict.pk}/resolve/", payload, format="json")

    assert response.status_code == status
    assert field in {e["field"] for e in response.json()["errors"]}
    conflict.refresh_from_db()
    assert conflict.status == ConflictStatus.OPEN


def test_a_viewer_cannot_resolve_conflicts(viewer, organization):
    conflict = ConflictFactory(link__workflow=IntegrationWorkflowFactory(organization=organization))

    response = client_for(viewer).post(f"/api/v1/sync-conflicts/{conflict.pk}/resolve/", {"choice": "source"})

    assert response.status_code == 403


def test_failed_records_are_listed_and_one_is_retried_after_the_fix(
    owner_client, systems, make_workflow, run_sync, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    # given
    left, right = systems
    bad = left.add_issue("x" * 300)
    workflow = make_workflow()
    run_sync(workflow)
    # when
    with django_assert_max_num_queries(5):
        listed = owner_client.get("/api/v1/failed-records/", {"workflow": str(workflow.pk), "status": "open"}).json()
    [row] = listed["results"]
    left.touch_issue(bad["number"], title="Fixed title")
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(f"/api/v1/failed-records/{row['id']}/retry/")
    # then
    assert (row["record_id"], row["error_class"]) == (str(bad["number"]), "validation")
    assert "too long" in row["reason"]
    assert response.status_code == 202
    assert [issue["title"] for issue in right.issues.values()] == ["Fixed title"]
    assert owner_client.get(f"/api/v1/failed-records/{row['id']}/").json()["status"] == FailedRecordStatus.RESOLVED
    assert owner_client.post(f"/api/v1/failed-records/{row['id']}/retry/").status_code == 409


def test_a_failed_record_can_be_discarded(owner_client, organization):
    failed = FailedRecordFactory(workflow=IntegrationWorkflowFactory(organization=organization))

    response = owner_client.post(f"/api/v1/failed-records/{failed.pk}/discard/")

    assert response.status_code == 200
    assert response.json()["status"] == FailedRecordStatus.DISCARDED
    assert owner_client.post(f"/api/v1/failed-records/{failed.pk}/discard/").status_code == 409


def test_the_trail_of_one_record_answers_who_changed_it_and_where_it_came_from(
    owner_client, systems, make_workflow, run_sync, django_assert_max_num_queries
):
    # given a record created, then updated, plus another record
    left, _right = systems
    issue = left.add_issue("Printer")
    left.add_issue("Scanner")
    workflow = make_workflow()
    run_sync(workflow)
    left.touch_issue(issue["number"], body="Floor 3")
    run_sync(workflow)
    # when
    with django_assert_max_num_queries(5):
        response = owner_client.get("/api/v1/data-movements/", {"record": str(issue["number"])})
    # then
    rows = response.json()["results"]
    assert [row["operation"] for row in rows] == ["update", "create"]
    newest = rows[0]
    assert newest["fields_changed"] == ["body"]
    assert (newest["actor_type"], newest["trigger"]) == ("system", "schedule")
    assert newest["origin"]["connector"] == str(workflow.source_connector_id)
    assert newest["origin"]["record_id"] == str(issue["number"])
    event = owner_client.get(f"/api/v1/audit-events/{newest['audit_event']}/").json()
    assert event["action"] == "sync.record_update"
    assert event["target_id"] == newest["id"]
    # the partner's id finds the same history
    partner = owner_client.get("/api/v1/data-movements/", {"record": newest["target_record_id"]}).json()
    assert [row["id"] for row in partner["results"]] == [row["id"] for row in rows]


def test_the_trail_is_filtered_by_workflow_and_operation(owner_client, organization):
    workflow = IntegrationWorkflowFactory(organization=organization)
    DataMovementFactory.create_batch(2, link__workflow=workflow)
    DataMovementFactory(link__workflow=workflow, operation="delete")
    DataMovementFactory(link__workflow=IntegrationWorkflowFactory(organization=organization))

    response = owner_client.get("/api/v1/data-movements/", {"workflow": str(workflow.pk), "operation": "update"})

    assert len(response.json()["results"]) == 2
    assert DataMovement.objects.count() == 4
