"""/api/v1/workflows/: CRUD, pause/resume/run-now, templates, with per-field errors on bad definitions."""

from __future__ import annotations

import pytest
from django_celery_beat.models import PeriodicTask
from rest_framework.test import APIClient

from apps.accounts.roles import Role
from apps.sync.models import IntegrationWorkflow, WorkflowStatus
from tests.factories.connectors import ConnectorFactory
from tests.factories.sync import ConflictFactory, FailedRecordFactory, IntegrationWorkflowFactory
from tests.sync.conftest import ISSUE_MAPPING

pytestmark = pytest.mark.django_db
URL = "/api/v1/workflows/"


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def definition(connectors, **overrides):
    source, target = connectors
    return {
        "name": "Issues to issues",
        "source_connector": str(source.pk),
        "source_object_type": "issue",
        "target_connector": str(target.pk),
        "target_object_type": "issue",
        "mappings": ISSUE_MAPPING,
        "interval_seconds": 60,
        **overrides,
    }


def test_the_list_shows_each_workflows_open_conflicts_and_failing_records_in_few_queries(
    owner_client, organization, django_assert_max_num_queries
):
    # given
    for _ in range(3):
        workflow = IntegrationWorkflowFactory(organization=organization)
        ConflictFactory(link__workflow=workflow)
        FailedRecordFactory(workflow=workflow)
        FailedRecordFactory(workflow=workflow, status="resolved")
    # when
    with django_assert_max_num_queries(6):
        response = owner_client.get(URL)
    # then
    assert response.status_code == 200
    rows = response.json()["results"]
    assert len(rows) == 3
    assert {(row["open_conflicts"], row["failing_records"]) for row in rows} == {(1, 1)}


def test_a_workflow_is_created_with_its_schedule(owner_client, connectors):
    # when
    response = owner_client.post(URL, definition(connectors), format="json")
    # then
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["interval_seconds"], body["direction"]) == ("active", 60, "one_way")
    workflow = IntegrationWorkflow.objects.get(pk=body["id"])
    assert PeriodicTask.objects.get(pk=workflow.periodic_task_id).interval.every == 60


def test_a_bad_mapping_is_answered_with_an_error_per_field(owner_client, connectors):
    # when
    response = owner_client.post(
        URL,
        definition(
            connectors,
            mappings=[{"source": "title", "target": "title"}, {"source": "colour", "target": "state"}],
            schedule_kind="cron",
            cron_expression="99 * * * *",
        ),
        format="json",
    )
    # then
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("/workflow-invalid")
    errors = {(e["field"], e["code"]) for e in problem["errors"]}
    assert ("cron_expression", "invalid_cron") in errors
    # (the schedule is checked first; with it fixed the mapping's own problems are named)
    response = owner_client.post(
        URL,
        definition(
            connectors, mappings=[{"source": "title", "target": "title"}, {"source": "colour", "target": "state"}]
        ),
        format="json",
    )
    assert {(e["field"], e["code"]) for e in response.json()["errors"]} == {("mappings[1]", "unknown_field")}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"mappings": None}, "mappings"),
        ({"direction": "sideways"}, "direction"),
        ({"source_connector": "00000000-0000-0000-0000-000000000000"}, "source_connector"),
        ({"interval_seconds": 0}, "interval_seconds"),
    ],
)
def test_a_malformed_request_is_answered_400_with_the_field(owner_client, connectors, payload, field):
    response = owner_client.post(URL, definition(connectors, **payload), format="json")

    assert response.status_code == 400
    assert field in {e["field"] for e in response.json()["errors"]}


def test_a_foreign_connector_does_not_exist_for_the_caller(owner_client, connectors, other_organization):
    foreign = ConnectorFactory(organization=other_organization)

    response = owner_client.post(URL, definition(connectors, target_connector=str(foreign.pk)), format="json")

    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["target_connector"]


def test_a_workflow_is_changed_and_deleted(owner_client, make_workflow):
    workflow = make_workflow()

    changed = owner_client.patch(f"{URL}{workflow.pk}/", {"interval_seconds": 900, "name": "Renamed"}, format="json")
    deleted = owner_client.delete(f"{URL}{workflow.pk}/")

    assert changed.status_code == 200
    assert (changed.json()["interval_seconds"], changed.json()["name"]) == (900, "Renamed")
    assert deleted.status_code == 204
    assert not IntegrationWorkflow.objects.exists()


def test_a_bad_change_is_refused_with_the_field(owner_client, make_workflow):
    workflow = make_workflow()

    response = owner_client.patch(f"{URL}{workflow.pk}/", {"mappings": [{"source": "x", "target": "y"}]}, format="json")

    assert response.status_code == 422
    assert {e["code"] for e in response.json()["errors"]} == {"unknown_field", "required_unmapped"}


def test_an_operator_pauses_resumes_and_runs_a_workflow_but_cannot_change_it(
    make_workflow, make_member, organization, systems, django_capture_on_commit_callbacks
):
    # given
    left, right = systems
    left.add_issue("Printer")
    workflow = make_workflow()
    operator = client_for(make_member(organization, Role.OPERATOR))
    # when / then
    assert operator.post(f"{URL}{workflow.pk}/pause/").json()["status"] == WorkflowStatus.PAUSED
    assert operator.post(f"{URL}{workflow.pk}/run/").status_code == 409  # paused
    assert operator.post(f"{URL}{workflow.pk}/resume/").json()["status"] == WorkflowStatus.ACTIVE
    with django_capture_on_commit_callbacks(execute=True):
        response = operator.post(f"{URL}{workflow.pk}/run/")
    assert response.status_code == 202
    assert [issue["title"] for issue in right.issues.values()] == ["Printer"]
    assert operator.patch(f"{URL}{workflow.pk}/", {"name": "Mine now"}, format="json").status_code == 403
    assert operator.delete(f"{URL}{workflow.pk}/").status_code == 403


def test_a_viewer_sees_workflows_but_cannot_run_them(make_workflow, viewer):
    workflow = make_workflow()
    client = client_for(viewer)

    assert client.get(f"{URL}{workflow.pk}/").status_code == 200
    assert client.post(f"{URL}{workflow.pk}/run/").status_code == 403
    assert client.post(f"{URL}{workflow.pk}/pause/").status_code == 403


def test_the_templates_are_listed_and_one_is_created_between_two_connectors(owner_client, connect_sandbox):
    # given
    templates = owner_client.get(f"{URL}templates/").json()
    github, azure = connect_sandbox("github"), connect_sandbox("azure_devops")
    # when
    response = owner_client.post(
        f"{URL}from-template/",
        {
            "template": "github-azure-devops-work-items",
            "source_connector": str(github.pk),
            "target_connector": str(azure.pk),
        },
        format="json",
    )
    # then
    assert len(templates) >= 5
    assert {"key", "title", "mappings", "source_provider", "target_provider"} <= set(templates[0])
    assert response.status_code == 201
    assert response.json()["template_key"] == "github-azure-devops-work-items"


def test_a_template_with_connectors_of_other_providers_is_refused(owner_client, connect_sandbox):
    github = connect_sandbox("github")

    response = owner_client.post(
        f"{URL}from-template/",
        {"template": "jira-gitlab-issues", "source_connector": str(github.pk), "target_connector": str(github.pk)},
        format="json",
    )

    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"source_connector", "target_connector"}
