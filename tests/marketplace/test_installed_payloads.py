"""Installing a declarative extension makes what it ships usable; uninstalling takes it back."""

from __future__ import annotations

import json

import pytest

from apps.connectors import services as connector_services
from apps.connectors.models import ConnectorManifest, ConnectorStatus
from apps.core.exceptions import BusinessRuleViolation
from apps.marketplace import services
from apps.marketplace.models import InstallationStatus, VersionStatus
from apps.sync import services as sync_services
from apps.sync.merge import ConflictPolicy
from apps.sync.models import Direction, WorkflowDraft, WorkflowDraftStatus
from tests.factories.connectors import MINIMAL_MANIFEST, ConnectorFactory
from tests.factories.marketplace import WORKFLOW, add_published_version, manifest, publish_extension

pytestmark = pytest.mark.django_db

CONSENT = {"scopes": ["connectors.view"], "egress": ["api.acme.io"], "dataClasses": ["internal"]}
# Connectors are created, never called, here: a loopback base URL passes the address check.
LOOPBACK = "http://127.0.0.1:9"
ACME_MANIFEST = {**MINIMAL_MANIFEST, "name": "acme-tickets", "title": "Acme Tickets"}


def _install(organization, owner, extension, run_on_commit):
    with run_on_commit():
        installation = services.install_extension(
            organization=organization,
            actor=owner,
            extension=extension,
            accepted_permissions=CONSENT,
            config={"region": "eu"},
        )
    installation.refresh_from_db()
    return installation


@pytest.fixture
def loopback_allowed(settings):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True


@pytest.fixture
def connector_extension():
    return publish_extension(slug="acme.tickets", files={"connector.json": json.dumps(ACME_MANIFEST)})


@pytest.fixture
def workflow_extension():
    return publish_extension(
        slug="acme.jira-to-snow",
        type="workflow",
        entryPoint="workflow.json",
        files={
            "workflow.json": json.dumps(
                {
                    **WORKFLOW,
                    "mapping": [
                        {"source": "summary", "target": "short_description", "transform": "trim"},
                    ],
                }
            )
        },
    )


def test_installing_a_connector_extension_registers_its_manifest_for_the_organization(
    organization, owner, connector_extension, run_on_commit, loopback_allowed
):
    # when
    installation = _install(organization, owner, connector_extension, run_on_commit)
    # then the organization can create a connector from it
    assert installation.status == InstallationStatus.ACTIVE
    registered = ConnectorManifest.objects.get(organization=organization, name="acme-tickets")
    assert registered.is_active
    assert registered.installed_from == f"marketplace:{installation.pk}"
    assert registered.document == ACME_MANIFEST
    connector = connector_services.create_connector(
        organization=organization,
        actor=owner,
        name="Acme",
        provider="custom",
        manifest=registered,
        base_url=LOOPBACK,
        credentials={"token": "acme-token"},
    )
    assert connector.manifest_id == registered.pk


def test_uninstalling_deactivates_the_manifest_and_pauses_its_connectors(
    organization, owner, connector_extension, run_on_commit, loopback_allowed
):
    # given
    installation = _install(organization, owner, connector_extension, run_on_commit)
    registered = ConnectorManifest.objects.get(organization=organization, name="acme-tickets")
    connector = connector_services.create_connector(
        organization=organization,
        actor=owner,
        name="Acme",
        provider="custom",
        manifest=registered,
        base_url=LOOPBACK,
        credentials={"token": "acme-token"},
    )
    # when
    with run_on_commit():
        services.uninstall_installation(installation=installation, actor=owner)
    # then
    registered.refresh_from_db()
    connector.refresh_from_db()
    assert registered.is_active is False
    assert connector.status == ConnectorStatus.PAUSED
    with pytest.raises(BusinessRuleViolation) as refused:
        connector_services.create_connector(
            organization=organization,
            actor=owner,
            name="Acme again",
            provider="custom",
            manifest=registered,
            base_url=LOOPBACK,
            credentials={"token": "acme-token"},
        )
    assert refused.value.code == "manifest_inactive"


def test_a_connector_manifest_clashing_with_the_organizations_own_fails_the_installation(
    organization, owner, connector_extension, run_on_commit
):
    # given the organization wrote a manifest of the same name itself
    own = connector_services.save_connector_manifest(organization=organization, actor=owner, document=ACME_MANIFEST)
    # when
    installation = _install(organization, owner, connector_extension, run_on_commit)
    # then
    assert installation.status == InstallationStatus.FAILED
    assert "acme-tickets" in installation.status_reason
    own.refresh_from_db()
    assert own.installed_from == ""
    assert ConnectorManifest.objects.filter(organization=organization).count() == 1


def test_a_connector_extension_in_the_older_descriptive_format_installs_without_registering(
    organization, owner, run_on_commit
):
    extension = publish_extension(slug="acme.legacy")

    installation = _install(organization, owner, extension, run_on_commit)

    assert installation.status == InstallationStatus.ACTIVE
    assert not ConnectorManifest.objects.filter(organization=organization).exists()


def test_installing_a_workflow_extension_creates_a_draft_the_organization_completes(
    organization, owner, workflow_extension, run_on_commit
):
    # when
    installation = _install(organization, owner, workflow_extension, run_on_commit)
    # then
    assert installation.status == InstallationStatus.ACTIVE
    [draft] = WorkflowDraft.objects.filter(organization=organization)
    assert (draft.source_provider, draft.source_object_type) == ("jira", "issue")
    assert (draft.target_provider, draft.target_object_type) == ("servicenow", "incident")
    assert draft.direction == Direction.BIDIRECTIONAL
    assert draft.conflict_policy == ConflictPolicy.LATEST_WINS
    assert draft.mappings == [{"source": "summary", "target": "short_description"}]
    assert draft.notes == ["summary -> short_description: the `trim` transform was left out."]
    # and completing it with two connectors of the named providers makes a (paused) workflow
    jira = ConnectorFactory(organization=organization, provider="jira", name="Jira")
    servicenow = ConnectorFactory(organization=organization, provider="servicenow", name="ServiceNow")
    workflow = sync_services.complete_workflow_draft(
        draft=draft, actor=owner, source_connector=jira, target_connector=servicenow
    )
    draft.refresh_from_db()
    assert draft.status == WorkflowDraftStatus.COMPLETED
    assert draft.workflow_id == workflow.pk
    assert workflow.status == "paused"


def test_a_draft_refuses_connectors_of_other_providers(organization, owner, workflow_extension, run_on_commit):
    _install(organization, owner, workflow_extension, run_on_commit)
    draft = WorkflowDraft.objects.get(organization=organization)
    github = ConnectorFactory(organization=organization, provider="github", name="GitHub")

    with pytest.raises(sync_services.WorkflowInvalid) as refused:
        sync_services.complete_workflow_draft(
            draft=draft, actor=owner, source_connector=github, target_connector=github
        )

    assert {e["field"] for e in refused.value.errors} == {"source_connector", "target_connector"}
    draft.refresh_from_db()
    assert draft.status == WorkflowDraftStatus.OPEN


def test_uninstalling_withdraws_the_open_draft(organization, owner, workflow_extension, run_on_commit):
    installation = _install(organization, owner, workflow_extension, run_on_commit)

    with run_on_commit():
        services.uninstall_installation(installation=installation, actor=owner)

    draft = WorkflowDraft.objects.get(organization=organization)
    assert draft.status == WorkflowDraftStatus.WITHDRAWN
    with pytest.raises(Exception, match="open draft"):
        sync_services.complete_workflow_draft(
            draft=draft,
            actor=owner,
            source_connector=ConnectorFactory(organization=organization, provider="jira"),
            target_connector=ConnectorFactory(organization=organization, provider="servicenow"),
        )


def test_activating_twice_registers_once(organization, owner, workflow_extension, run_on_commit):
    from apps.marketplace.services.installed_payloads import make_payload_usable

    installation = _install(organization, owner, workflow_extension, run_on_commit)

    make_payload_usable(installation=installation)

    assert WorkflowDraft.objects.filter(organization=organization).count() == 1


def test_an_automatic_update_registers_the_new_versions_manifest(
    organization, owner, connector_extension, run_on_commit
):
    # given
    _install(organization, owner, connector_extension, run_on_commit)
    newer = {**ACME_MANIFEST, "version": "1.1.0", "title": "Acme Tickets (v1.1)"}
    passed = add_published_version(
        extension=connector_extension,
        manifest_data=manifest(id=connector_extension.slug, version="1.1.0"),
        status=VersionStatus.PASSED,
        files={"connector.json": json.dumps(newer)},
    )
    # when
    with run_on_commit():
        assert services.publish_version(version_id=passed.pk, explicit=True)
    # then
    registered = ConnectorManifest.objects.get(organization=organization, name="acme-tickets")
    assert (registered.version, registered.title) == ("1.1.0", "Acme Tickets (v1.1)")
    assert registered.is_active


def test_installing_again_after_an_uninstall_reactivates_the_manifest(
    organization, owner, connector_extension, run_on_commit
):
    # given
    first = _install(organization, owner, connector_extension, run_on_commit)
    with run_on_commit():
        services.uninstall_installation(installation=first, actor=owner)
    # when
    second = _install(organization, owner, connector_extension, run_on_commit)
    # then
    assert second.status == InstallationStatus.ACTIVE, second.status_reason
    registered = ConnectorManifest.objects.get(organization=organization, name="acme-tickets")
    assert registered.is_active
    assert registered.installed_from == f"marketplace:{second.pk}"


def test_the_organization_sees_which_manifests_an_extension_brought(
    organization, owner, owner_client, connector_extension, run_on_commit
):
    # given
    installation = _install(organization, owner, connector_extension, run_on_commit)
    # when
    rows = owner_client.get("/api/v1/connector-manifests/").json()["results"]
    # then
    [row] = rows
    assert (row["name"], row["installed_from"], row["is_active"]) == (
        "acme-tickets",
        f"marketplace:{installation.pk}",
        True,
    )
