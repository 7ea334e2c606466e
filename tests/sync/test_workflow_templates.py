"""The ready-made workflows: valid against the real providers' schemas, and working against their sandboxes."""

from __future__ import annotations

import pytest

from apps.connectors.connections import provider_for
from apps.core.exceptions import BusinessRuleViolation
from apps.sync import services
from apps.sync.models import LinkState, RecordLink, RunStatus
from apps.sync.pairs import WorkflowMapping
from apps.sync.workflow_templates import TEMPLATES, TEMPLATES_BY_KEY

pytestmark = pytest.mark.django_db


def test_there_are_at_least_five_templates_and_together_they_use_all_eight_providers():
    providers = {t.source_provider for t in TEMPLATES} | {t.target_provider for t in TEMPLATES}

    assert len(TEMPLATES) >= 5
    assert providers == {"salesforce", "servicenow", "jira", "azure_devops", "slack", "teams", "github", "gitlab"}
    assert len(TEMPLATES_BY_KEY) == len(TEMPLATES)


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.key)
def test_a_template_syncs_its_sample_record_between_the_sandboxes(
    template, organization, owner, connect_sandbox, run_sync
):
    # given a workflow made from the template, checked against both providers' schemas on the way
    source = connect_sandbox(template.source_provider)
    target = connect_sandbox(template.target_provider)
    workflow = services.create_workflow_from_template(
        organization=organization,
        actor=owner,
        template_key=template.key,
        source_connector=source,
        target_connector=target,
    )
    assert (workflow.template_key, workflow.name) == (template.key, template.title)
    with provider_for(source) as provider:
        sample = provider.create(template.source_object_type, dict(template.sample))
    # when
    run = run_sync(workflow, refs=[{"side": "source", "id": sample.id}])
    # then the sample has its partner on the target, and the mapped fields agree
    assert run.status == RunStatus.SUCCEEDED, run.errors
    link = RecordLink.objects.get(workflow=workflow, source_id=sample.id)
    assert link.state == LinkState.LINKED
    with provider_for(target) as provider:
        partner = provider.get(template.target_object_type, link.target_id)
    with provider_for(source) as provider:
        current = provider.get(template.source_object_type, sample.id)
    mapping = WorkflowMapping.parse(workflow.mappings)
    assert mapping.differing_fields(current.data, partner.data) == []
    # when the sample is edited at the source
    with provider_for(source) as provider:
        provider.update(template.source_object_type, sample.id, dict(template.sample_update))
    again = run_sync(workflow, refs=[{"side": "source", "id": sample.id}])
    # then the edit reaches the target, and a pass after it has nothing to do
    assert again.stats == {"to_target": {"update": 1}}, again.errors
    with provider_for(target) as provider:
        partner = provider.get(template.target_object_type, link.target_id)
    with provider_for(source) as provider:
        current = provider.get(template.source_object_type, sample.id)
    assert mapping.differing_fields(current.data, partner.data) == []
    quiet = run_sync(workflow, refs=[{"side": "source", "id": sample.id}, {"side": "target", "id": link.target_id}])
    assert quiet.records_succeeded == 0


def test_a_template_refuses_connectors_of_other_providers(organization, owner, connect_sandbox):
    github = connect_sandbox("github")
    slack = connect_sandbox("slack")

    with pytest.raises(BusinessRuleViolation) as excinfo:
        services.create_workflow_from_template(
            organization=organization,
            actor=owner,
            template_key="jira-servicenow-incidents",
            source_connector=github,
            target_connector=slack,
        )

    assert {e["field"] for e in excinfo.value.errors} == {"source_connector", "target_connector"}


def test_an_unknown_template_is_refused(organization, owner, connect_sandbox):
    github = connect_sandbox("github")

    with pytest.raises(BusinessRuleViolation) as excinfo:
        services.create_workflow_from_template(
            organization=organization,
            actor=owner,
            template_key="nope",
            source_connector=github,
            target_connector=github,
        )

    assert excinfo.value.errors[0]["field"] == "template"
