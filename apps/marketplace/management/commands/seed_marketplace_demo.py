"""`manage.py seed_marketplace_demo`: a small catalog for the demo, published through the real pipeline.

Makes the first organization (by slug, `acme` when `seed_demo` ran) a verified publisher and uploads a few
declarative extensions; each goes through validate -> scan -> test -> certify -> publish synchronously.
Running it again uploads nothing that already exists.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.accounts.models import Membership, Organization
from apps.accounts.roles import Role
from apps.marketplace import services
from apps.marketplace.models import Extension, Publisher
from apps.marketplace.packaging import build_package

CONNECTOR = {
    "name": "helpdesk",
    "baseUrl": "https://api.helpdesk.example",
    "auth": {"type": "api_key", "header": "X-Api-Key"},
    "resources": [{"name": "ticket", "path": "/tickets", "idField": "id", "pagination": {"type": "cursor"}}],
}


def _workflow(name: str, source: str, target: str) -> dict[str, Any]:
    return {
        "name": name,
        "source": {"connector": source, "object": "issue"},
        "target": {"connector": target, "object": "incident"},
        "direction": "two_way",
        "mapping": [{"source": "summary", "target": "short_description"}],
        "conflictPolicy": "newest_wins",
    }


def demo_extensions(slug: str) -> list[tuple[dict[str, Any], dict[str, str]]]:
    base: dict[str, Any] = {
        "version": "1.0.0",
        "author": {"name": "Acme Labs"},
        "requires": {"platform": ">=0.1.0 <1.0.0"},
        "support": {"level": "professional", "url": "https://support.acme.example"},
        "links": {"homepage": "https://acme.example", "privacy": "https://acme.example/privacy"},
    }
    return [
        (
            {
                **base,
                "id": f"{slug}.helpdesk-connector",
                "type": "connector",
                "name": "Helpdesk Connector",
                "description": "Read and write Helpdesk tickets from integration workflows.",
                "category": "ticketing",
                "tags": ["helpdesk", "tickets"],
                "entryPoint": "connector.json",
                "permissions": {"scopes": ["connectors.view"], "egress": ["api.helpdesk.example"]},
                "configSchema": {
                    "type": "object",
                    "required": ["apiKey"],
                    "properties": {"apiKey": {"type": "string", "secret": True}},
                },
            },
            {"connector.json": json.dumps(CONNECTOR, indent=2)},
        ),
        (
            {
                **base,
                "id": f"{slug}.jira-servicenow-sync",
                "type": "workflow",
                "name": "Jira to ServiceNow Sync",
                "description": "Keeps Jira issues and ServiceNow incidents in step, both ways.",
                "category": "itsm",
                "tags": ["jira", "servicenow", "sync"],
                "entryPoint": "workflow.json",
                "permissions": {"scopes": ["workflows.view", "workflows.operate"]},
            },
            {"workflow.json": json.dumps(_workflow("Jira to ServiceNow", "jira", "servicenow"), indent=2)},
        ),
        (
            {
                **base,
                "id": f"{slug}.github-issue-template",
                "type": "template",
                "name": "GitHub Issues to Slack",
                "description": "A starting point for announcing new GitHub issues in Slack.",
                "category": "devops",
                "tags": ["github", "slack"],
                "entryPoint": "workflow.json",
                "support": {"level": "community"},
            },
            {"workflow.json": json.dumps(_workflow("GitHub to Slack", "github", "slack"), indent=2)},
        ),
    ]


class Command(BaseCommand):
    help = "Publish a few demo extensions through the marketplace pipeline."

    def handle(self, *args: Any, **options: Any) -> None:
        organization = Organization.objects.order_by("slug").filter(slug="acme").first() or (
            Organization.objects.order_by("created_at").first()
        )
        if organization is None:
            raise CommandError("No organization yet: run `manage.py seed_demo` first.")
        membership = (
            Membership.objects.filter(organization=organization, role__in=(Role.OWNER, Role.DEVELOPER))
            .select_related("user")
            .first()
        )
        if membership is None:
            raise CommandError(f"{organization.slug} has no owner or developer to publish as.")
        actor = membership.user
        publisher = Publisher.objects.filter(organization=organization).first() or services.create_publisher(
            organization=organization, actor=actor, slug=organization.slug, name=organization.name, accept_terms=True
        )
        services.verify_publisher(publisher=publisher, actor=None, verified=True)
        for manifest, files in demo_extensions(publisher.slug):
            if Extension.objects.filter(slug=manifest["id"]).exists():
                continue
            version = services.upload_version(publisher=publisher, actor=actor, data=build_package(manifest, files))
            # Run the steps here rather than waiting for a worker, so the demo catalog is ready at once.
            for step in (services.run_validate_step, services.run_scan_step, services.run_test_step):
                step(version_id=version.pk)
            services.certify_version(version_id=version.pk)
            services.publish_version(version_id=version.pk)
            version.refresh_from_db()
            self.stdout.write(f"{manifest['id']} {version.version}: {version.status}")
