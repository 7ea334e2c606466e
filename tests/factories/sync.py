import uuid

import factory
from django.utils import timezone

from apps.security.services import record_audit_event
from apps.sync.models import (
    Conflict,
    DataMovement,
    FailedRecord,
    IntegrationWorkflow,
    LinkState,
    RecordLink,
    SyncRun,
    WorkflowDraft,
)
from tests.factories.accounts import OrganizationFactory
from tests.factories.connectors import ConnectorFactory


class IntegrationWorkflowFactory(factory.django.DjangoModelFactory[IntegrationWorkflow]):
    """A workflow row as stored (no schedule, no schema checks): for tests about reading and scoping."""

    class Meta:
        model = IntegrationWorkflow

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Workflow {n}")
    source_connector = factory.SubFactory(ConnectorFactory, organization=factory.SelfAttribute("..organization"))
    source_object_type = "issue"
    target_connector = factory.SubFactory(ConnectorFactory, organization=factory.SelfAttribute("..organization"))
    target_object_type = "issue"
    mappings = factory.LazyFunction(lambda: [{"source": "title", "target": "title"}])


class RecordLinkFactory(factory.django.DjangoModelFactory[RecordLink]):
    class Meta:
        model = RecordLink

    workflow = factory.SubFactory(IntegrationWorkflowFactory)
    organization = factory.SelfAttribute("workflow.organization")
    source_id = factory.Sequence(lambda n: str(1000 + n))
    target_id = factory.Sequence(lambda n: str(5000 + n))
    state = LinkState.LINKED


class SyncRunFactory(factory.django.DjangoModelFactory[SyncRun]):
    class Meta:
        model = SyncRun

    workflow = factory.SubFactory(IntegrationWorkflowFactory)
    organization = factory.SelfAttribute("workflow.organization")
    operation_type = "incremental"
    trigger = "schedule"
    status = "succeeded"
    started_at = factory.LazyFunction(timezone.now)


class ConflictFactory(factory.django.DjangoModelFactory[Conflict]):
    class Meta:
        model = Conflict

    link = factory.SubFactory(RecordLinkFactory)
    workflow = factory.SelfAttribute("link.workflow")
    organization = factory.SelfAttribute("link.organization")
    field = "title"
    base_value = "Printer"
    source_value = "Printer (source)"
    target_value = "Printer (target)"
    source_record_id = factory.SelfAttribute("link.source_id")
    target_record_id = factory.SelfAttribute("link.target_id")


class FailedRecordFactory(factory.django.DjangoModelFactory[FailedRecord]):
    class Meta:
        model = FailedRecord

    workflow = factory.SubFactory(IntegrationWorkflowFactory)
    organization = factory.SelfAttribute("workflow.organization")
    side = "source"
    record_id = factory.Sequence(lambda n: str(n))
    operation = "create"
    error_class = "validation"
    reason = "title: too long"
    first_failed_at = factory.LazyFunction(timezone.now)
    last_failed_at = factory.LazyFunction(timezone.now)


class DataMovementFactory(factory.django.DjangoModelFactory[DataMovement]):
    class Meta:
        model = DataMovement

    id = factory.LazyFunction(uuid.uuid4)
    link = factory.SubFactory(RecordLinkFactory)
    workflow = factory.SelfAttribute("link.workflow")
    organization = factory.SelfAttribute("link.organization")
    direction = "to_target"
    operation = "update"
    source_record_id = factory.SelfAttribute("link.source_id")
    target_record_id = factory.SelfAttribute("link.target_id")
    fields_changed = factory.LazyFunction(lambda: ["title"])
    actor_type = "system"
    trigger = "schedule"
    occurred_at = factory.LazyFunction(timezone.now)
    audit_event = factory.LazyAttribute(
        lambda o: record_audit_event(
            actor=None,
            action="sync.record_update",
            target=("sync.datamovement", str(o.id)),
            organization=o.organization,
        )
    )


class WorkflowDraftFactory(factory.django.DjangoModelFactory[WorkflowDraft]):
    """A draft between Jira issues and ServiceNow incidents, as a workflow extension would install it."""

    class Meta:
        model = WorkflowDraft

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Installed workflow {n}")
    source_provider = "jira"
    source_object_type = "issue"
    target_provider = "servicenow"
    target_object_type = "incident"
    mappings = factory.LazyFunction(lambda: [{"source": "summary", "target": "short_description"}])
