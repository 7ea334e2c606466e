"""The connectors admin: operators see configuration without secrets, SLA figures and every delivery."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.accounts.models import User
from apps.connectors.models import ConnectorHealthSample, ConnectorStatus
from tests.factories.connectors import (
    ConnectorFactory,
    ConnectorManifestFactory,
    NotificationRouteFactory,
    WebhookDeliveryFactory,
)


@pytest.fixture
def operator_client(db: None) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("ops@nofx.example", "unused-password-123"))
    return client


def test_a_connector_page_shows_its_sla_and_which_secrets_are_set_but_not_their_values(operator_client, organization):
    connector = ConnectorFactory(organization=organization, credentials={"token": "ghp_topsecret"})
    ConnectorHealthSample.objects.create(connector=connector, ok=True, latency_ms=42)

    page = operator_client.get(f"/admin/connectors/connector/{connector.pk}/change/").content.decode()

    assert "ghp_topsecret" not in page
    assert "token" in page
    assert "100.00%" in page
    assert "42 ms" in page


@pytest.mark.parametrize(
    "path",
    [
        "/admin/connectors/connector/",
        "/admin/connectors/webhookdelivery/",
        "/admin/connectors/connectorhealthsample/",
        "/admin/connectors/connectormanifest/",
        "/admin/connectors/notificationroute/",
    ],
)
def test_every_list_renders_with_a_bounded_number_of_queries(
    path, operator_client, organization, django_assert_max_num_queries
):
    connector = ConnectorFactory(organization=organization)
    for _ in range(5):
        WebhookDeliveryFactory(connector=connector)
        ConnectorHealthSample.objects.create(connector=connector, ok=True, latency_ms=10)
        NotificationRouteFactory(organization=organization)
    ConnectorManifestFactory(organization=organization)

    with django_assert_max_num_queries(12):
        response = operator_client.get(path)

    assert response.status_code == 200


def test_a_delivery_page_shows_its_headers_and_body(operator_client, organization):
    delivery = WebhookDeliveryFactory(connector=ConnectorFactory(organization=organization), body='{"hello": "world"}')

    page = operator_client.get(f"/admin/connectors/webhookdelivery/{delivery.pk}/change/").content.decode()

    assert "x-github-event" in page
    assert "hello" in page


def test_the_pause_action_goes_through_the_service(operator_client, organization):
    connector = ConnectorFactory(organization=organization)

    operator_client.post("/admin/connectors/connector/", {"action": "pause", "_selected_action": [str(connector.pk)]})

    connector.refresh_from_db()
    assert connector.status == ConnectorStatus.PAUSED
