"""`/api/v1/workflow-drafts/`: installed workflow definitions, completed by choosing their connectors."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.sync.models import IntegrationWorkflow, WorkflowDraftStatus
from tests.factories.connectors import ConnectorFactory
from tests.factories.sync import WorkflowDraftFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/workflow-drafts/"


@pytest.fixture
def draft(organization):
    return WorkflowDraftFactory(organization=organization, name="Jira to ServiceNow")


@pytest.fixture
def pair(organization):
    return (
        ConnectorFactory(organization=organization, provider="jira", name="Jira"),
        ConnectorFactory(organization=organization, provider="servicenow", name="ServiceNow"),
    )


def _complete(client, draft, source, target, **extra):
    body = {"source_connector": str(source.pk), "target_connector": str(target.pk), **extra}
    return client.post(f"{URL}{draft.pk}/complete/", body, format="json")


def test_the_list_shows_the_organizations_drafts_in_few_queries(
    owner_client, organization, other_organization, django_assert_max_num_queries
):
    # given
    WorkflowDraftFactory.create_batch(3, organization=organization)
    WorkflowDraftFactory(organization=other_organization)
    # when
    with django_assert_max_num_queries(5):
        response = owner_client.get(URL)
    # then
    assert response.status_code == 200
    assert len(response.json()["results"]) == 3


def test_the_list_filters_by_status_and_refuses_an_unknown_one(owner_client, organization):
    WorkflowDraftFactory(organization=organization)
    WorkflowDraftFactory(organization=organization, status=WorkflowDraftStatus.WITHDRAWN)

    assert len(owner_client.get(URL, {"status": "open"}).json()["results"]) == 1
    assert owner_client.get(URL, {"status": "sideways"}).status_code == 400


def test_completing_a_draft_creates_a_paused_workflow_between_the_chosen_connectors(owner_client, draft, pair):
    # when
    response = _complete(owner_client, draft, *pair)
    # then
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["name"], body["status"]) == ("Jira to ServiceNow", "paused")
    workflow = IntegrationWorkflow.objects.get(pk=body["id"])
    assert (workflow.source_connector_id, workflow.target_connector_id) == (pair[0].pk, pair[1].pk)
    draft.refresh_from_db()
    assert (draft.status, draft.workflow_id) == (WorkflowDraftStatus.COMPLETED, workflow.pk)


def test_connectors_of_other_providers_are_refused_per_field(owner_client, draft, pair):
    response = _complete(owner_client, draft, pair[1], pair[0])

    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"source_connector", "target_connector"}


def test_a_completed_draft_cannot_be_completed_again(owner_client, draft, pair):
    assert _complete(owner_client, draft, *pair).status_code == 201

    again = _complete(owner_client, draft, *pair, name="Second try")

    assert again.status_code == 409
    assert again.json()["type"].endswith("/draft-not-open")


def test_another_organizations_connector_or_draft_is_not_found(owner_client, draft, pair, other_organization):
    foreign = ConnectorFactory(organization=other_organization, provider="jira")
    foreign_draft = WorkflowDraftFactory(organization=other_organization)

    assert _complete(owner_client, draft, foreign, pair[1]).status_code == 400
    assert _complete(owner_client, foreign_draft, *pair).status_code == 404


def test_a_viewer_may_read_drafts_but_not_complete_them(viewer, draft, pair):
    client = APIClient()
    client.force_authenticate(viewer)

    assert client.get(f"{URL}{draft.pk}/").status_code == 200
    assert _complete(client, draft, *pair).status_code == 403
