"""The Microsoft Teams provider against the Graph sandbox: messages, delta, notifications, outgoing webhooks."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from apps.connectors import services
from apps.connectors.models import DeliveryStatus, WebhookDelivery
from apps.connectors.providers.base import Notification
from apps.connectors.sandboxes import teams as sandbox_module
from tests.connectors.providers.conformance import (  # noqa: F401 - shared tests collected here
    WEBHOOK_SECRET,
    ProviderCase,
    test_a_429_is_retried_after_the_time_retry_after_names,
    test_a_replayed_webhook_is_dropped,
    test_a_signed_webhook_is_accepted_and_processed,
    test_a_webhook_with_a_bad_signature_is_rejected,
    test_an_incremental_read_returns_only_what_changed_after_the_cursor,
    test_bad_credentials_fail_the_connection_test_and_every_read,
    test_changes_are_read_across_every_page,
    test_good_credentials_pass_the_connection_test,
    test_records_are_created_and_updated_on_the_vendor,
)

CREDENTIALS = {
    "client_id": sandbox_module.CLIENT_ID,
    "client_secret": sandbox_module.CLIENT_SECRET,
    "refresh_token": sandbox_module.REFRESH_TOKEN,
}
OUTGOING_TOKEN = base64.b64encode(b"teams-outgoing-webhook-key-0001").decode()


def settings_for(sandbox):
    return {
        "tenant_id": sandbox_module.TENANT_ID,
        "team_id": sandbox_module.TEAM_ID,
        "channel_id": sandbox_module.CHANNEL_ID,
        "login_url": sandbox.url,
    }


def _first_id(sandbox):
    return min(sandbox.messages[sandbox_module.CHANNEL_ID], key=int)


@pytest.fixture
def case(sandbox_for) -> ProviderCase:
    sandbox = sandbox_for("teams")

    def webhook(sandbox, secret):
        message = sandbox.post("<p>Hello from Teams</p>")
        return sandbox.change_notification("created", message["id"], secret)

    return ProviderCase(
        kind="teams",
        sandbox="teams",
        settings=settings_for(sandbox),
        credentials=lambda sandbox: CREDENTIALS,
        bad_credentials=lambda sandbox: {**CREDENTIALS, "refresh_token": "0.AXexpired"},
        paged_type="message",
        seed=lambda sandbox, count, start: sandbox.seed_messages(count, start=start, step=timedelta(seconds=2)),
        change_one=lambda sandbox: sandbox.edit(_first_id(sandbox), "<p>Edited in Teams</p>")["id"],
        add_one=lambda sandbox: sandbox.post("<p>Posted in Teams</p>")["id"],
        create_type="message",
        create_data={"body": "<p>Build 42 is green</p>", "subject": "CI"},
        update_data={"body": "<p>Build 42 is deployed</p>"},
        updated_field=("body", "<p>Build 42 is deployed</p>"),
        webhook=webhook,
        webhook_credentials=lambda secret: {"client_state": secret, "outgoing_webhook_token": OUTGOING_TOKEN},
        expected_refs=lambda sandbox: [{"object_type": "message", "id": _first_id(sandbox), "deleted": False}],
    )


@pytest.fixture
def teams(sandbox_for, provider_factory):
    sandbox = sandbox_for("teams")
    return sandbox, provider_factory("teams", sandbox.url, settings=settings_for(sandbox), credentials=CREDENTIALS)


@pytest.fixture
def teams_connector(sandbox_for, organization, loopback_allowed):
    sandbox = sandbox_for("teams")
    connector = services.create_connector(
        organization=organization,
        actor=None,
        name="Teams",
        provider="teams",
        base_url=sandbox.url,
        settings_=settings_for(sandbox),
        credentials={**CREDENTIALS, "client_state": WEBHOOK_SECRET, "outgoing_webhook_token": OUTGOING_TOKEN},
    )
    return sandbox, connector


def _post(client, connector, call):
    url = f"/hooks/{connector.pk}/" + (f"?{call.query}" if call.query else "")
    headers = {k: v for k, v in call.headers.items() if k != "Content-Type"}
    return client.post(url, data=call.body, content_type=call.headers["Content-Type"], headers=headers)


def test_every_refresh_rotates_the_refresh_token_and_it_is_stored(teams):
    sandbox, provider = teams

    provider.test_connection()

    stored = provider.connection.credentials_store.load()
    assert stored["refresh_token"].startswith("0.AXrotated-")
    assert stored["access_token"] in sandbox.access_tokens
    assert stored["expires_at"] > datetime.now(tz=UTC).timestamp() + 3000


def test_the_delta_link_is_the_cursor(teams):
    sandbox, provider = teams
    sandbox.seed_messages(2, start=datetime.now(tz=UTC) - timedelta(hours=1))

    page = provider.read_changes("message", None)

    from apps.connectors.providers.cursors import Cursor

    assert "/messages/delta?$deltatoken=" in Cursor.decode(page.next_cursor).token
    assert not page.has_more


def test_a_soft_deleted_message_comes_back_marked_deleted(teams):
    sandbox, provider = teams
    message = sandbox.post("<p>Oops</p>")
    first = provider.read_changes("message", None)

    provider.delete("message", message["id"])
    second = provider.read_changes("message", first.next_cursor)

    assert [(r.id, r.deleted) for r in second.records] == [(message["id"], True)]


def test_the_subscription_validation_token_is_echoed_as_text(teams_connector, client):
    sandbox, connector = teams_connector

    response = _post(client, connector, sandbox.validation_request("Validation: Testing 123"))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response.content == b"Validation: Testing 123"


def test_at_nofx_status_in_a_channel_answers_with_integration_health(teams_connector, client):
    sandbox, connector = teams_connector

    response = _post(client, connector, sandbox.outgoing_webhook("status", OUTGOING_TOKEN))

    assert response.status_code == 200
    assert response.json()["type"] == "message"
    assert "connectors healthy" in response.json()["text"]
    assert WebhookDelivery.objects.get().status == DeliveryStatus.PROCESSED


def test_an_outgoing_webhook_with_a_wrong_hmac_is_refused(teams_connector, client):
    sandbox, connector = teams_connector
    forged = base64.b64encode(b"someone-else-s-key-000000000000").decode()

    response = _post(client, connector, sandbox.outgoing_webhook("status", forged))

    assert response.status_code == 401


def test_an_outgoing_webhook_replayed_later_is_refused(teams_connector, client):
    sandbox, connector = teams_connector
    call = sandbox.outgoing_webhook("status", OUTGOING_TOKEN, sent_at=datetime.now(tz=UTC) - timedelta(minutes=20))

    response = _post(client, connector, call)

    assert response.status_code == 401
    assert response.json()["reason"] == "stale_timestamp"


def test_a_notification_goes_to_another_channel_of_the_team(teams):
    sandbox, provider = teams

    provider.post_notification(
        channel=f"{sandbox_module.TEAM_ID}/19:alerts@thread.tacv2",
        notification=Notification(title="Security event", text="Burst of 401s", severity="critical"),
    )

    (message,) = sandbox.messages["19:alerts@thread.tacv2"].values()
    assert message["subject"] == "Security event"
    assert "CRITICAL" in message["body"]["content"]


def test_channels_of_the_team_are_listed(teams):
    _sandbox, provider = teams

    assert provider.invoke("list_channels", {}) == {
        "channels": [
            {"id": sandbox_module.CHANNEL_ID, "name": "General"},
            {"id": "19:alerts@thread.tacv2", "name": "Integration alerts"},
        ]
    }
