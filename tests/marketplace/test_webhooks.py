"""Signed webhooks to installed apps: signature, retries with backoff for up to three days, redelivery."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.marketplace import services
from apps.marketplace.models import DeliveryStatus, WebhookDelivery
from apps.marketplace.services.webhooks import webhook_signature_headers
from nofx_sdk.webhooks import sign_payload, verify_signature
from tests.factories.marketplace import app_manifest, make_installation, publish_extension

pytestmark = pytest.mark.django_db


@pytest.fixture
def installation(organization, app_server):
    extension = publish_extension(
        slug="pub.agent", manifest_data=app_manifest(base_url=app_server.base_url, id="pub.agent")
    )
    return make_installation(organization=organization, extension=extension)


def test_a_signature_verifies_and_a_tampered_or_stale_one_does_not():
    body = b'{"event": "installation.updated"}'
    header = webhook_signature_headers("secret", body, now=1_700_000_000)["Nofx-Signature"]

    assert header == f"t=1700000000,v1={sign_payload('secret', body, 1_700_000_000)}"
    assert verify_signature("secret", body, header, now=1_700_000_100)
    assert not verify_signature("secret", body + b" ", header, now=1_700_000_100)
    assert not verify_signature("other", body, header, now=1_700_000_100)
    assert not verify_signature("secret", body, header, now=1_700_000_000 + 301)
    assert not verify_signature("secret", body, "garbage", now=1_700_000_000)


def test_a_subscribed_event_is_delivered_signed(installation, app_server, run_on_commit):
    with run_on_commit():
        delivery = services.enqueue_webhook(
            installation=installation, event="installation.updated", data={"to": "1.1.0"}
        )

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    (request,) = app_server.requests
    assert request["headers"]["Nofx-Event"] == "installation.updated"
    assert verify_signature("test-webhook-secret", request["body"], request["headers"]["Nofx-Signature"])
    assert json.loads(request["body"])["data"] == {"to": "1.1.0"}


def test_an_event_the_app_did_not_subscribe_to_is_not_sent(installation):
    assert services.enqueue_webhook(installation=installation, event="record.synced", data={}) is None


def test_a_failed_delivery_is_retried_with_growing_delays_then_given_up_after_three_days(installation, app_server):
    # given the app answers 503
    app_server.status = 503
    delivery = services.enqueue_webhook(installation=installation, event="installation.updated", data={})
    assert delivery is not None

    # when the first attempt fails
    services.attempt_delivery(delivery_id=delivery.pk)
    delivery.refresh_from_db()

    # then the next one is a minute away
    assert (delivery.status, delivery.attempts, delivery.last_error) == (DeliveryStatus.FAILED, 1, "HTTP 503")
    assert timedelta(seconds=50) < delivery.next_attempt_at - timezone.now() <= timedelta(minutes=1)

    # and an attempt before it is due does nothing
    services.attempt_delivery(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.attempts == 1

    # when attempts keep failing, the delays grow, until three days have passed
    delays = []
    while delivery.status == DeliveryStatus.FAILED:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            next_attempt_at=timezone.now(), created_at=delivery.created_at - (delivery.next_attempt_at - timezone.now())
        )
        services.attempt_delivery(delivery_id=delivery.pk)
        delivery.refresh_from_db()
        if delivery.next_attempt_at:
            delays.append(round((delivery.next_attempt_at - timezone.now()).total_seconds() / 60))
    assert delays[:5] == [5, 30, 120, 360, 720]
    assert delivery.status == DeliveryStatus.GAVE_UP
    assert timezone.now() - delivery.created_at <= timedelta(days=3, minutes=1) + timedelta(hours=12)


def test_an_operator_redelivers_a_given_up_delivery(installation, app_server, run_on_commit):
    delivery = services.enqueue_webhook(installation=installation, event="installation.updated", data={})
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.GAVE_UP, next_attempt_at=None)
    delivery.refresh_from_db()

    with run_on_commit():
        services.redeliver_webhook(delivery=delivery, actor=None)

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert app_server.paths() == ["/webhooks"]


def test_the_periodic_sweep_sends_due_deliveries(installation, app_server):
    from apps.marketplace.tasks import deliver_due_webhooks_task

    delivery = services.enqueue_webhook(installation=installation, event="installation.updated", data={})

    assert deliver_due_webhooks_task() == 1

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
