"""The connectors admin: operators see configuration without secrets, SLA figures and every delivery."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.accounts.models import User
from apps.connectors.models import Connector, ConnectorHealthSample, ConnectorStatus
from apps.security.models import AuditEvent
from tests.factories.connectors import (
    ConnectorFactory,
    ConnectorManifestFactory,
    NotificationRouteFactory,
    WebhookDeliveryFactory,
)
from tests.factories.sync import IntegrationWorkflowFactory


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


def test_deleting_a_connector_a_workflow_uses_is_refused_in_the_admin_naming_the_workflow(
    operator_client, organization
):
    # given
    connector = ConnectorFactory(organization=organization)
    IntegrationWorkflowFactory(organization=organization, name="Issues out", source_connector=connector)
    # when the operator confirms the deletion
    page = operator_client.get(f"/admin/connectors/connector/{connector.pk}/delete/")
    posted = operator_client.post(f"/admin/connectors/connector/{connector.pk}/delete/", {"post": "yes"})
    # then the admin explains why instead of failing, and the connector stays
    assert page.status_code == 200
    assert "Issues out" in page.content.decode()
    assert posted.status_code in (200, 302)
    assert Connector.objects.filter(pk=connector.pk).exists()


def test_the_admins_bulk_delete_refuses_connectors_in_use_and_deletes_the_rest_through_the_service(
    operator_client, organization
):
    # given
    used = ConnectorFactory(organization=organization, name="Used")
    unused = ConnectorFactory(organization=organization, name="Unused")
    IntegrationWorkflowFactory(organization=organization, name="Issues out", source_connector=used)
    # when
    response = operator_client.post(
        "/admin/connectors/connector/",
        {"action": "delete_selected", "_selected_action": [str(unused.pk)], "post": "yes"},
    )
    refused = operator_client.post(
        "/admin/connectors/connector/",
        {"action": "delete_selected", "_selected_action": [str(used.pk)], "post": "yes"},
    )
    # then
    assert response.status_code in (200, 302)
    assert refused.status_code in (200, 302)
    assert not Connector.objects.filter(pk=unused.pk).exists()
    assert Connector.objects.filter(pk=used.pk).exists()
    assert AuditEvent.objects.filter(action="connectors.connector_deleted", target_id=str(unused.pk)).exists()
