"""`/api/v1/webhook-deliveries/` and `/api/v1/notification-routes/`."""

from __future__ import annotations

from apps.connectors.models import DeliveryStatus, NotificationRoute
from tests.factories.connectors import ConnectorFactory, NotificationRouteFactory, WebhookDeliveryFactory


def test_deliveries_are_listed_newest_first_without_their_bodies(
    owner_client, organization, django_assert_max_num_queries
):
    connector = ConnectorFactory(organization=organization)
    for n in range(12):
        WebhookDeliveryFactory(connector=connector, delivery_id=f"d{n}")

    with django_assert_max_num_queries(4):
        response = owner_client.get("/api/v1/webhook-deliveries/?page_size=50")

    results = response.json()["results"]
    assert [r["delivery_id"] for r in results][:2] == ["d11", "d10"]
    assert "body" not in results[0]


def test_a_delivery_shows_its_redacted_headers_and_body(owner_client, organization):
    delivery = WebhookDeliveryFactory(
        connector=ConnectorFactory(organization=organization), headers={"authorization": "<redacted>"}
    )

    body = owner_client.get(f"/api/v1/webhook-deliveries/{delivery.pk}/").json()

    assert body["headers"] == {"authorization": "<redacted>"}
    assert body["body"] == '{"action": "edited"}'


def test_deliveries_are_filtered_by_connector_and_status(owner_client, organization):
    first, second = ConnectorFactory(organization=organization), ConnectorFactory(organization=organization)
    WebhookDeliveryFactory(connector=first, status=DeliveryStatus.REJECTED)
    WebhookDeliveryFactory(connector=second)

    by_connector = owner_client.get(f"/api/v1/webhook-deliveries/?connector={second.pk}").json()["results"]
    by_status = owner_client.get("/api/v1/webhook-deliveries/?status=rejected").json()["results"]

    assert [d["connector"] for d in by_connector] == [str(second.pk)]
    assert [d["status"] for d in by_status] == ["rejected"]


def test_a_bad_date_filter_is_a_400(owner_client):
    response = owner_client.get("/api/v1/webhook-deliveries/?received_after=last-tuesday")

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "received_after"


def test_a_notification_route_goes_to_a_chat_connector(owner_client, organization):
    slack = ConnectorFactory(organization=organization, provider="slack", settings={"channel": "C0GENERAL1"})

    response = owner_client.post(
        "/api/v1/notification-routes/",
        {
            "name": "Sync failures",
            "connector": str(slack.pk),
            "channel": "C0ALERTS1",
            "event_types": ["sync.*"],
            "min_severity": "error",
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    route = NotificationRoute.objects.get(pk=response.json()["id"])
    assert route.wants("sync.run_failed", "error")
    assert not route.wants("sync.run_failed", "warning")
    assert not route.wants("security.event", "critical")


def test_a_notification_route_cannot_use_a_non_chat_connector(owner_client, organization):
    github = ConnectorFactory(organization=organization)

    response = owner_client.post(
        "/api/v1/notification-routes/", {"connector": str(github.pk), "channel": "general"}, format="json"
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "not_a_channel"


def test_routes_are_listed_with_a_constant_number_of_queries(owner_client, organization, django_assert_max_num_queries):
    for _ in range(6):
        NotificationRouteFactory(organization=organization)

    with django_assert_max_num_queries(4):
        response = owner_client.get("/api/v1/notification-routes/")

    assert len(response.json()["results"]) == 6


def test_a_viewer_sees_routes_but_cannot_add_one(api_client, viewer, organization):
    NotificationRouteFactory(organization=organization)
    api_client.force_authenticate(viewer)

    assert api_client.get("/api/v1/notification-routes/").status_code == 200
    assert api_client.post("/api/v1/notification-routes/", {}, format="json").status_code == 403
