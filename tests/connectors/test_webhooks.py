"""`POST /hooks/<connector-id>/`: what happens around the signature check, for any provider."""

from __future__ import annotations

import json
import uuid

import pytest

from apps.connectors import services
from apps.connectors.models import DeliveryStatus, WebhookDelivery
from apps.connectors.sandboxes import github

SECRET = "webhooks-test-secret"
RECEIVED: list[WebhookDelivery] = []


def record_delivery(*, delivery: WebhookDelivery) -> None:
    """A consumer, as the sync engine registers one in CONNECTOR_WEBHOOK_CONSUMERS."""
    RECEIVED.append(delivery)


def refuse_delivery(*, delivery: WebhookDelivery) -> None:
    raise ValueError("the consumer cannot take it")


@pytest.fixture
def hooked(sandbox_for, organization, loopback_allowed):
    sandbox = sandbox_for("github")
    connector = services.create_connector(
        organization=organization,
        actor=None,
        name="GitHub",
        provider="github",
        base_url=sandbox.url,
        settings_={"owner": github.OWNER, "repo": github.REPO},
        credentials={"token": github.TOKEN, "webhook_secret": SECRET},
    )
    return sandbox, connector


def _post(client, connector, call, **extra):
    return client.post(
        f"/hooks/{connector.pk}/", data=call.body, content_type="application/json", headers=call.headers, **extra
    )


def test_an_unknown_connector_is_a_404(client, db):
    response = client.post(f"/hooks/{uuid.uuid4()}/", data=b"{}", content_type="application/json")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"


def test_only_post_is_accepted(client, hooked):
    _sandbox, connector = hooked

    assert client.get(f"/hooks/{connector.pk}/").status_code == 405


def test_an_oversized_delivery_is_refused_before_it_is_read(client, hooked, settings):
    _sandbox, connector = hooked
    settings.CONNECTOR_WEBHOOK_MAX_BYTES = 100

    response = client.post(f"/hooks/{connector.pk}/", data=b"x" * 200, content_type="application/json")

    assert response.status_code == 413
    assert not WebhookDelivery.objects.exists()


def test_a_paused_connector_refuses_deliveries_but_records_them(client, hooked):
    sandbox, connector = hooked
    services.set_connector_paused(connector=connector, actor=None, paused=True)
    call = sandbox.signed_webhook("issues", sandbox.issue_event(1), SECRET)

    response = _post(client, connector, call)

    assert response.status_code == 409
    assert WebhookDelivery.objects.get().reason == "connector_paused"


def test_an_unsigned_delivery_is_rejected_as_missing_its_signature(client, hooked):
    sandbox, connector = hooked
    call = sandbox.signed_webhook("issues", sandbox.issue_event(1), SECRET)
    del call.headers["X-Hub-Signature-256"]

    response = _post(client, connector, call)

    assert response.status_code == 401
    assert WebhookDelivery.objects.get().reason == "missing_signature"


def test_an_old_body_replayed_under_a_new_delivery_id_is_dropped(client, hooked, django_capture_on_commit_callbacks):
    # given a delivery accepted once; the signature covers no timestamp
    sandbox, connector = hooked
    sandbox.add_issue("Once")
    first = sandbox.signed_webhook("issues", sandbox.issue_event(1), SECRET)
    with django_capture_on_commit_callbacks(execute=True):
        _post(client, connector, first)
    # when the same signed body comes back with a fresh delivery id
    replay = sandbox.signed_webhook("issues", sandbox.issue_event(1), SECRET)
    replay.body = first.body
    replay.headers["X-Hub-Signature-256"] = first.headers["X-Hub-Signature-256"]
    with django_capture_on_commit_callbacks(execute=True) as queued:
        response = _post(client, connector, replay)
    # then
    assert response.status_code == 200
    assert queued == []
    dropped = WebhookDelivery.objects.get(delivery_id=replay.headers["X-GitHub-Delivery"])
    assert (dropped.status, dropped.reason) == (DeliveryStatus.DUPLICATE, "replayed_body")


def test_secret_headers_are_not_stored(client, hooked):
    sandbox, connector = hooked
    call = sandbox.signed_webhook("issues", sandbox.issue_event(1), SECRET)
    call.headers["Authorization"] = "Basic c2VjcmV0"
    call.headers["X-Gitlab-Token"] = "leaked?"

    _post(client, connector, call)

    headers = WebhookDelivery.objects.get().headers
    assert headers["authorization"] == "<redacted>"
    assert headers["x-gitlab-token"] == "<redacted>"
    assert headers["x-github-event"] == "issues"


def test_a_github_ping_is_answered_and_not_processed(client, hooked, django_capture_on_commit_callbacks):
    sandbox, connector = hooked
    call = sandbox.signed_webhook("ping", {"zen": "Keep it logically awesome."}, SECRET)

    with django_capture_on_commit_callbacks(execute=True) as queued:
        response = _post(client, connector, call)

    assert response.json() == {"status": "pong"}
    assert queued == []


def test_registered_consumers_receive_each_processed_delivery(
    client, hooked, settings, django_capture_on_commit_callbacks
):
    # given the sync engine's hook registered
    sandbox, connector = hooked
    settings.CONNECTOR_WEBHOOK_CONSUMERS = ["tests.connectors.test_webhooks.record_delivery"]
    RECEIVED.clear()
    issue = sandbox.add_issue("Watched")
    # when
    with django_capture_on_commit_callbacks(execute=True):
        _post(
            client, connector, sandbox.signed_webhook("issues", sandbox.issue_event(issue["number"], "closed"), SECRET)
        )
    # then
    (delivery,) = RECEIVED
    assert delivery.affected == [{"object_type": "issue", "id": str(issue["number"]), "deleted": False}]
    assert delivery.connector_id == connector.pk


def test_a_consumer_failure_marks_the_delivery_failed_with_the_reason(
    client, hooked, settings, django_capture_on_commit_callbacks
):
    sandbox, connector = hooked
    settings.CONNECTOR_WEBHOOK_CONSUMERS = ["tests.connectors.test_webhooks.refuse_delivery"]

    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, connector, sandbox.signed_webhook("issues", sandbox.issue_event(1), SECRET))

    assert response.status_code == 202
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED
    assert "cannot take it" in delivery.error


def test_processing_a_delivery_twice_does_the_work_once(client, hooked, settings, django_capture_on_commit_callbacks):
    from apps.connectors.tasks import process_webhook_delivery_task

    sandbox, connector = hooked
    settings.CONNECTOR_WEBHOOK_CONSUMERS = ["tests.connectors.test_webhooks.record_delivery"]
    RECEIVED.clear()
    with django_capture_on_commit_callbacks(execute=True):
        _post(client, connector, sandbox.signed_webhook("issues", sandbox.issue_event(1), SECRET))

    process_webhook_delivery_task(str(WebhookDelivery.objects.get().pk))

    assert len(RECEIVED) == 1


def test_a_malformed_body_with_a_good_signature_is_a_400(client, hooked):
    sandbox, connector = hooked
    call = sandbox.signed_webhook("issues", {}, SECRET)
    call.headers.pop("X-GitHub-Event")

    response = _post(client, connector, call)

    assert response.status_code == 400
    assert json.loads(response.content)["reason"] == "malformed_body"


def test_deliveries_with_bad_signatures_in_bulk_raise_a_security_event(client, hooked, settings):
    from apps.security.models import SecurityEvent

    # given a sender that cannot sign
    settings.SECURITY_DETECTOR_THRESHOLDS = {"webhook_failures": 3}
    sandbox, connector = hooked
    call = sandbox.signed_webhook("issues", sandbox.issue_event(1), "not-the-secret")
    # when it delivers three times
    codes = [_post(client, connector, call, REMOTE_ADDR="127.0.0.30").status_code for _ in range(3)]
    # then
    assert codes == [401] * 3
    event = SecurityEvent.objects.get(event_type="webhook_signature_failures")
    assert (event.organization, event.source_ip) == (connector.organization, "127.0.0.30")
    assert event.resource_id == f"connector:{connector.pk}"


def test_a_malformed_body_is_no_signature_failure(client, hooked, settings):
    from apps.security.models import SecurityEvent

    settings.SECURITY_DETECTOR_THRESHOLDS = {"webhook_failures": 1}
    sandbox, connector = hooked
    call = sandbox.signed_webhook("issues", {}, SECRET)
    call.headers.pop("X-GitHub-Event")

    response = _post(client, connector, call)

    assert response.status_code == 400
    assert not SecurityEvent.objects.exists()
