import hashlib

import factory
from django.utils import timezone

from apps.connectors.models import Connector, ConnectorManifest, DeliveryStatus, NotificationRoute, WebhookDelivery
from tests.factories.accounts import OrganizationFactory

MINIMAL_MANIFEST = {
    "manifest_version": 1,
    "name": "minimal",
    "title": "Minimal API",
    "version": "1.0.0",
    "base_url": "https://api.example.com",
    "auth": {"type": "bearer", "token": "{{ credentials.token }}"},
    "check": {"request": {"method": "GET", "path": "/me"}},
    "streams": [
        {
            "name": "thing",
            "title": "Things",
            "primary_key": "id",
            "schema": {"type": "object", "properties": {"id": {"type": "string"}}},
            "request": {"method": "GET", "path": "/things"},
        }
    ],
}


class ConnectorFactory(factory.django.DjangoModelFactory[Connector]):
    class Meta:
        model = Connector

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Connector {n}")
    provider = "github"
    base_url = "https://api.github.com"
    settings = factory.LazyFunction(lambda: {"owner": "acme", "repo": "widgets"})
    credentials = factory.LazyFunction(lambda: {"token": "ghp_factory", "webhook_secret": "factory-webhook-secret"})
    capabilities = factory.LazyFunction(lambda: ["comment_on_issue", "set_commit_status"])


class WebhookDeliveryFactory(factory.django.DjangoModelFactory[WebhookDelivery]):
    class Meta:
        model = WebhookDelivery

    connector = factory.SubFactory(ConnectorFactory)
    organization = factory.SelfAttribute("connector.organization")
    delivery_id = factory.Sequence(lambda n: f"delivery-{n}")
    event_type = "issues.edited"
    status = DeliveryStatus.PROCESSED
    received_at = factory.LazyFunction(timezone.now)
    headers = factory.LazyFunction(lambda: {"x-github-event": "issues"})
    body = '{"action": "edited"}'
    body_sha256 = factory.LazyAttribute(lambda o: hashlib.sha256(o.body.encode()).hexdigest())


class ConnectorManifestFactory(factory.django.DjangoModelFactory[ConnectorManifest]):
    class Meta:
        model = ConnectorManifest

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"manifest-{n}")
    title = "Minimal API"
    document = factory.LazyAttribute(lambda o: {**MINIMAL_MANIFEST, "name": o.name})
    document_sha256 = "0" * 64


class NotificationRouteFactory(factory.django.DjangoModelFactory[NotificationRoute]):
    class Meta:
        model = NotificationRoute

    organization = factory.SubFactory(OrganizationFactory)
    connector = factory.SubFactory(
        ConnectorFactory,
        organization=factory.SelfAttribute("..organization"),
        provider="slack",
        base_url="https://slack.com",
        settings={"channel": "C0GENERAL1"},
        credentials={"bot_token": "xoxb-factory"},
        capabilities=[],
    )
    name = factory.Sequence(lambda n: f"Route {n}")
    channel = "C0ALERTS01"
    event_types = factory.LazyFunction(lambda: ["*"])
