"""Ready-made workflows between the eight providers: pick one, name the two connectors, done.

A template is a workflow definition without connectors. `create_workflow_from_template` checks that the
connectors are of the providers the template names and then creates the workflow like any other, so the
mapping is validated against both object types' schemas exactly as when a person writes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from apps.sync.merge import ConflictPolicy
from apps.sync.models import DeletePolicy, Direction


@dataclass(frozen=True)
class WorkflowTemplate:
    key: str
    title: str
    description: str
    source_provider: str
    source_object_type: str
    target_provider: str
    target_object_type: str
    direction: str
    mappings: list[dict[str, Any]]
    conflict_policy: str = ConflictPolicy.SOURCE_WINS
    field_authority: dict[str, str] = field(default_factory=dict)
    delete_policy: str = DeletePolicy.TOMBSTONE
    tombstone_values: dict[str, dict[str, Any]] = field(default_factory=dict)
    interval_seconds: int = 300
    # A source record that shows the template working (tests and the demo create it through the provider).
    sample: dict[str, Any] = field(default_factory=dict)
    # ...and a later edit of it.
    sample_update: dict[str, Any] = field(default_factory=dict)

    def definition(self) -> dict[str, Any]:
        """The workflow fields the template fixes (create_workflow's keyword arguments, minus the connectors)."""
        return {
            "source_object_type": self.source_object_type,
            "target_object_type": self.target_object_type,
            "direction": self.direction,
            "mappings": [dict(rule) for rule in self.mappings],
            "conflict_policy": self.conflict_policy,
            "field_authority": dict(self.field_authority),
            "delete_policy": self.delete_policy,
            "tombstone_values": {side: dict(values) for side, values in self.tombstone_values.items()},
            "interval_seconds": self.interval_seconds,
            "description": self.description,
        }

    def describe(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "description": self.description,
            "source_provider": self.source_provider,
            "target_provider": self.target_provider,
            **self.definition(),
        }


TEMPLATES: tuple[WorkflowTemplate, ...] = (
    WorkflowTemplate(
        key="jira-servicenow-incidents",
        title="Jira issues <-> ServiceNow incidents",
        description=(
            "Engineering works in Jira, the service desk in ServiceNow: summary, description, status and "
            "priority stay in step both ways; the most recent edit wins on the vendors' own clocks."
        ),
        source_provider="jira",
        source_object_type="issue",
        target_provider="servicenow",
        target_object_type="incident",
        direction=Direction.BIDIRECTIONAL,
        mappings=[
            {"source": "summary", "target": "short_description", "required": True},
            {"source": "description", "target": "description", "coerce": "string", "default": ""},
            {
                "source": "status",
                "target": "state",
                "value_map": {"To Do": "1", "In Progress": "2", "Done": "7"},
                "reverse_value_map": {"1": "To Do", "2": "In Progress", "3": "In Progress", "6": "Done", "7": "Done"},
            },
            {
                "source": "priority",
                "target": "urgency",
                "value_map": {"Highest": "1", "High": "1", "Medium": "2", "Low": "3", "Lowest": "3"},
                "reverse_value_map": {"1": "High", "2": "Medium", "3": "Low"},
                "default": "Medium",
            },
        ],
        conflict_policy=ConflictPolicy.LATEST_WINS,
        delete_policy=DeletePolicy.TOMBSTONE,
        tombstone_values={"target": {"state": "7"}, "source": {"status": "Done"}},
        sample={"summary": "VPN drops every hour", "description": "Reported by the Lisbon office.", "priority": "High"},
        sample_update={"summary": "VPN drops every hour in Lisbon"},
    ),
    WorkflowTemplate(
        key="salesforce-opportunities-slack",
        title="Salesforce opportunities -> Slack messages",
        description=(
            "Each opportunity is a message in the sales channel, edited in place as its stage, amount or close "
            "date moves, and removed when the opportunity is deleted."
        ),
        source_provider="salesforce",
        source_object_type="Opportunity",
        target_provider="slack",
        target_object_type="message",
        direction=Direction.ONE_WAY,
        mappings=[
            {
                "target": "text",
                "template": "Opportunity *{Name}* is {StageName} (closes {CloseDate}, amount {Amount})",
                "direction": "to_target",
            },
        ],
        delete_policy=DeletePolicy.PROPAGATE,
        interval_seconds=120,
        sample={"Name": "Globex renewal", "StageName": "Prospecting", "CloseDate": "2027-03-31", "Amount": 48000},
        sample_update={"StageName": "Negotiation/Review"},
    ),
    WorkflowTemplate(
        key="github-azure-devops-work-items",
        title="GitHub issues <-> Azure DevOps work items",
        description=(
            "Open-source issues tracked as work items: the title and description belong to GitHub, the state "
            "to Azure DevOps (where the team plans); labels and tags follow whoever changed them."
        ),
        source_provider="github",
        source_object_type="issue",
        target_provider="azure_devops",
        target_object_type="work_item",
        direction=Direction.BIDIRECTIONAL,
        mappings=[
            {"source": "title", "target": "title", "required": True},
            {"source": "body", "target": "description"},
            {
                "source": "state",
                "target": "state",
                "value_map": {"open": "Active", "closed": "Closed"},
                "reverse_value_map": {
                    "New": "open",
                    "Active": "open",
                    "Resolved": "closed",
                    "Closed": "closed",
                    "Removed": "closed",
                    "*": "open",
                },
            },
            {"source": "labels", "target": "tags"},
        ],
        conflict_policy=ConflictPolicy.FIELD_AUTHORITY,
        field_authority={"title": "source", "description": "source", "state": "target", "tags": "source"},
        # GitHub cannot delete issues; a removed work item closes its issue and a vanished issue closes its item.
        delete_policy=DeletePolicy.TOMBSTONE,
        tombstone_values={"target": {"state": "Closed"}, "source": {"state": "closed"}},
        sample={"title": "Crash when the config file is empty", "body": "Steps: start with an empty file."},
        sample_update={"title": "Crash when the config file is empty or missing"},
    ),
    WorkflowTemplate(
        key="jira-gitlab-issues",
        title="Jira issues -> GitLab issues",
        description=(
            "What the product team plans in Jira becomes an issue in the GitLab project the code lives in; "
            "moving it to Done closes it there."
        ),
        source_provider="jira",
        source_object_type="issue",
        target_provider="gitlab",
        target_object_type="issue",
        direction=Direction.ONE_WAY,
        mappings=[
            {"source": "summary", "target": "title", "required": True},
            {"source": "description", "target": "description"},
            {"source": "labels", "target": "labels"},
            {
                "source": "status",
                "target": "state",
                "value_map": {"To Do": "opened", "In Progress": "opened", "Done": "closed"},
                "direction": "to_target",
            },
        ],
        delete_policy=DeletePolicy.PROPAGATE,
        sample={"summary": "Export invoices as CSV", "description": "Asked by three customers.", "labels": ["billing"]},
        sample_update={"summary": "Export invoices as CSV and PDF"},
    ),
    WorkflowTemplate(
        key="servicenow-changes-teams",
        title="ServiceNow change requests -> Microsoft Teams channel",
        description=(
            "Every change request is announced in the change-advisory channel and the message is kept up to "
            "date as the change moves through its states."
        ),
        source_provider="servicenow",
        source_object_type="change_request",
        target_provider="teams",
        target_object_type="message",
        direction=Direction.ONE_WAY,
        mappings=[
            {
                "target": "body",
                "template": "<p><b>{number}</b>: {short_description}</p><p>State {state}, priority {priority}</p>",
                "direction": "to_target",
            },
        ],
        delete_policy=DeletePolicy.PROPAGATE,
        interval_seconds=120,
        sample={"short_description": "Patch the core switches", "description": "Saturday 02:00-04:00 UTC."},
        sample_update={"short_description": "Patch and reboot the core switches"},
    ),
)

TEMPLATES_BY_KEY: dict[str, WorkflowTemplate] = {template.key: template for template in TEMPLATES}
