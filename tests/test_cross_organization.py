"""Every API endpoint keeps organizations apart.

The test walks the URL patterns of `/api/v1/`, so a new endpoint is covered the day it is added: it
fails until the endpoint's model has an entry in FOREIGN_OBJECTS below. For each detail endpoint and each
method, a member of one organization presents the id of another organization's object and must get 404
(never 403, which would confirm the object exists, and never 2xx); every list must leave foreign objects out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import models
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from apps.accounts.models import Invitation, Membership, Organization, Team
from apps.compliance.models import Assessment, Evidence, Finding
from apps.connectors.models import Connector, ConnectorManifest, NotificationRoute, WebhookDelivery
from apps.gateway.models import ApiClient, ApiKey, CertificateAuthority, ClientCertificate, UsageDay, UsageRecord
from apps.marketplace.models import Extension, ExtensionVersion, Installation, Publisher, Review, ReviewReport
from apps.regions.models import Region
from apps.security.models import AuditEvent, IPRule, ResponseAction, SecurityEvent
from apps.security.services import record_audit_event
from apps.sync.models import Conflict, DataMovement, FailedRecord, IntegrationWorkflow, SyncRun, WorkflowDraft
from tests.factories.accounts import InvitationFactory, MembershipFactory, OrganizationFactory, TeamFactory
from tests.factories.compliance import AssessmentFactory, EvidenceFactory, FindingFactory
from tests.factories.connectors import (
    ConnectorFactory,
    ConnectorManifestFactory,
    NotificationRouteFactory,
    WebhookDeliveryFactory,
)
from tests.factories.gateway import (
    ApiClientFactory,
    ApiKeyFactory,
    CertificateAuthorityFactory,
    ClientCertificateFactory,
    UsageDayFactory,
    UsageRecordFactory,
)
from tests.factories.marketplace import PublisherFactory, make_installation, publish_extension
from tests.factories.security import IPRuleFactory, ResponseActionFactory, SecurityEventFactory
from tests.factories.sync import (
    ConflictFactory,
    DataMovementFactory,
    FailedRecordFactory,
    IntegrationWorkflowFactory,
    SyncRunFactory,
    WorkflowDraftFactory,
)


def _published_by(org: Organization) -> Extension:
    publisher = Publisher.objects.filter(organization=org).first() or PublisherFactory(organization=org)
    return publish_extension(publisher=publisher)


def _review_by(org: Organization) -> Review:
    extension = _published_by(org)
    return Review.objects.create(organization=org, extension=extension, version=extension.latest_version, rating=3)


def _report_by(org: Organization) -> ReviewReport:
    return ReviewReport.objects.create(organization=org, review=_review_by(OrganizationFactory()), reason="spam")


# How to make an object of each API-exposed model inside a given (foreign) organization.
FOREIGN_OBJECTS: dict[type[models.Model], Callable[[Organization], models.Model]] = {
    Organization: lambda org: org,
    Membership: lambda org: MembershipFactory(organization=org),
    Team: lambda org: TeamFactory(organization=org),
    Invitation: lambda org: InvitationFactory(organization=org),
    AuditEvent: lambda org: record_audit_event(actor=None, action="test.foreign", organization=org),
    ApiClient: lambda org: ApiClientFactory(organization=org),
    ApiKey: lambda org: ApiKeyFactory(client=ApiClientFactory(organization=org)),
    ClientCertificate: lambda org: ClientCertificateFactory(client=ApiClientFactory(organization=org)),
    CertificateAuthority: lambda org: CertificateAuthorityFactory(organization=org),
    UsageRecord: lambda org: UsageRecordFactory(client=ApiClientFactory(organization=org)),
    UsageDay: lambda org: UsageDayFactory(client=ApiClientFactory(organization=org)),
    Connector: lambda org: ConnectorFactory(organization=org),
    WebhookDelivery: lambda org: WebhookDeliveryFactory(connector=ConnectorFactory(organization=org)),
    ConnectorManifest: lambda org: ConnectorManifestFactory(organization=org),
    NotificationRoute: lambda org: NotificationRouteFactory(organization=org),
    IntegrationWorkflow: lambda org: IntegrationWorkflowFactory(organization=org),
    SyncRun: lambda org: SyncRunFactory(workflow=IntegrationWorkflowFactory(organization=org)),
    Conflict: lambda org: ConflictFactory(link__workflow=IntegrationWorkflowFactory(organization=org)),
    FailedRecord: lambda org: FailedRecordFactory(workflow=IntegrationWorkflowFactory(organization=org)),
    DataMovement: lambda org: DataMovementFactory(link__workflow=IntegrationWorkflowFactory(organization=org)),
    WorkflowDraft: lambda org: WorkflowDraftFactory(organization=org),
    Publisher: lambda org: PublisherFactory(organization=org),
    # A publisher's extensions and versions: what the publishing endpoints show only to their publisher.
    Extension: _published_by,
    ExtensionVersion: lambda org: _published_by(org).latest_version,
    Installation: lambda org: make_installation(organization=org, extension=_published_by(OrganizationFactory())),
    # Reviews by the organization, of an extension it publishes itself (foreign on both sides).
    Review: _review_by,
    ReviewReport: _report_by,
    SecurityEvent: lambda org: SecurityEventFactory(organization=org),
    ResponseAction: lambda org: ResponseActionFactory(event__organization=org),
    IPRule: lambda org: IPRuleFactory(organization=org),
    Assessment: lambda org: AssessmentFactory(organization=org),
    Finding: lambda org: FindingFactory(organization=org),
    Evidence: lambda org: EvidenceFactory(organization=org),
}
# The public marketplace catalog belongs to no tenant: anyone may read published extensions, their versions
# and reviews, so these routes are left out of the walk on purpose.
PUBLIC_ROUTES = {
    "api:extension-list",
    "api:extension-detail",
    "api:extension-versions",
    "api:extension-reviews",
    "api:extension-consent",
    "api:extension-version-detail",
    "api:extension-version-download",
    "api:extension-category-list",
}
# Models every organization sees the same rows of, on purpose: they belong to no organization.
GLOBAL_MODELS: set[type[models.Model]] = {Region}
# URL keyword arguments other than `pk`, and the model whose id they carry.
KWARG_MODELS: dict[str, type[models.Model]] = {"membership_id": Membership}
# URL keyword arguments that name no object (an action of a connector), and a plausible value for each.
KWARG_VALUES: dict[str, str] = {"action_name": "comment_on_issue"}


@dataclass(frozen=True)
class Route:
    name: str
    kwargs: tuple[str, ...]
    methods: tuple[str, ...]
    model: type[models.Model] | None


def _model_of(view_class: Any) -> type[models.Model] | None:
    queryset = getattr(view_class, "queryset", None)
    if queryset is not None:
        return queryset.model
    serializer = getattr(view_class, "serializer_class", None)
    meta = getattr(serializer, "Meta", None)
    return getattr(meta, "model", None)


def _walk(patterns: list[Any], namespace: str | None = None) -> Iterator[tuple[str, URLPattern]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, entry.namespace or namespace)
        elif isinstance(entry, URLPattern) and namespace == "api" and entry.name:
            yield f"api:{entry.name}", entry


def api_routes() -> list[Route]:
    routes = []
    for name, pattern in _walk(get_resolver().url_patterns):
        callback = pattern.callback
        view_class = getattr(callback, "cls", None)
        actions = getattr(callback, "actions", None)
        allowed = set(getattr(view_class, "http_method_names", ()))
        candidates = actions or ("get", "post", "patch", "put", "delete")
        methods = tuple(m.upper() for m in candidates if m in allowed)
        routes.append(
            Route(
                name=name, kwargs=tuple(pattern.pattern.regex.groupindex), methods=methods, model=_model_of(view_class)
            )
        )
    return routes


DETAIL_ROUTES = [r for r in api_routes() if r.kwargs and r.name not in PUBLIC_ROUTES]
LIST_ROUTES = [
    r
    for r in api_routes()
    if not r.kwargs
    and r.name.endswith("-list")
    and "GET" in r.methods
    and r.name not in PUBLIC_ROUTES
    and r.model not in GLOBAL_MODELS
]


def test_the_walk_finds_the_api():
    names = {r.name for r in api_routes()}
    assert {"api:team-detail", "api:membership-list", "api:audit-event-detail"} <= names


@pytest.mark.parametrize("route", DETAIL_ROUTES, ids=lambda r: r.name)
def test_a_foreign_id_answers_404_on_every_method(route, api_client, owner, other_organization):
    # given
    assert route.model in FOREIGN_OBJECTS, f"Add {route.model} to FOREIGN_OBJECTS to cover {route.name}."
    foreign = {"pk": FOREIGN_OBJECTS[route.model](other_organization)}
    for kwarg in route.kwargs:
        if kwarg != "pk" and kwarg not in KWARG_VALUES:
            assert kwarg in KWARG_MODELS, f"Add the model behind `{kwarg}` to KWARG_MODELS to cover {route.name}."
            foreign[kwarg] = FOREIGN_OBJECTS[KWARG_MODELS[kwarg]](other_organization)
    url = reverse(
        route.name, kwargs={k: KWARG_VALUES[k] if k in KWARG_VALUES else str(foreign[k].pk) for k in route.kwargs}
    )
    api_client.force_authenticate(owner)
    for method in route.methods:
        if method in ("HEAD", "OPTIONS"):
            continue
        # when
        response = api_client.generic(method, url, data="{}", content_type="application/json")
        # then
        assert response.status_code == 404, f"{method} {url} answered {response.status_code}"
        assert response["Content-Type"] == "application/problem+json"
    for obj in foreign.values():
        assert type(obj)._default_manager.filter(pk=obj.pk).exists(), "a foreign object was deleted"


@pytest.mark.parametrize("route", LIST_ROUTES, ids=lambda r: r.name)
def test_lists_never_include_another_organizations_objects(route, api_client, owner, other_organization):
    assert route.model in FOREIGN_OBJECTS, f"Add {route.model} to FOREIGN_OBJECTS to cover {route.name}."
    foreign = FOREIGN_OBJECTS[route.model](other_organization)
    api_client.force_authenticate(owner)

    response = api_client.get(reverse(route.name))

    assert response.status_code == 200
    assert str(foreign.pk) not in response.content.decode()


def test_the_access_endpoint_never_describes_another_organizations_object(api_client, owner, other_organization):
    # `api:access` takes its object in the query string, so the walk above cannot reach it.
    foreign = {
        "accounts.team": FOREIGN_OBJECTS[Team](other_organization),
        "accounts.organization": other_organization,
    }
    api_client.force_authenticate(owner)

    for object_type, obj in foreign.items():
        response = api_client.get(reverse("api:access"), {"object_type": object_type, "object_id": str(obj.pk)})

        assert response.status_code == 404, f"{object_type} answered {response.status_code}"
        assert response["Content-Type"] == "application/problem+json"
