"""The Slack provider against the Slack sandbox: messages, channels, events, `/nofx status`, notifications."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apps.connectors import services
from apps.connectors.models import DeliveryStatus, WebhookDelivery
from apps.connectors.providers.base import Notification
from apps.connectors.sandboxes import slack as sandbox_module
from tests.connectors.providers.conformance import (  # noqa: F401 - shared tests collected here
    WEBHOOK_SECRET,
    ProviderCase,
    test_a_429_is_retried_after_the_time_retry_after_names,
    test_a_replayed_webhook_is_dropped,
    test_a_signed_webhook_is_accepted_and_processed,
    test_a_webhook_signed_too_long_ago_is_rejected,
    test_a_webhook_with_a_bad_signature_is_rejected,
    test_an_incremental_read_returns_only_what_changed_after_the_cursor,
    test_bad_credentials_fail_the_connection_test_and_every_read,
    test_changes_are_read_across_every_page,
    test_good_credentials_pass_the_connection_test,
    test_records_are_created_and_updated_on_the_vendor,
)

SETTINGS = {"channel": sandbox_module.CHANNEL_ID}
CREDENTIALS = {"bot_token": sandbox_module.BOT_TOKEN}


def _first_ts(sandbox):
    return min(sandbox.messages[sandbox_module.CHANNEL_ID], key=float)


@pytest.fixture
def case() -> ProviderCase:
    def webhook(sandbox, secret):
        message = sandbox.post("Hello from Slack")
        return sandbox.event(
            {
                "type": "message",
                "channel": sandbox_module.CHANNEL_ID,
                "user": "U1",
                "text": "Hello",
                "ts": message["ts"],
            },
            secret,
        )

    def stale_webhook(sandbox, secret):
        event = {"type": "message", "channel": sandbox_module.CHANNEL_ID, "ts": "1700000000.000100", "text": "old"}
        return sandbox.event(event, secret, sent_at=datetime.now(tz=UTC) - timedelta(minutes=6))

    return ProviderCase(
        kind="slack",
        sandbox="slack",
        settings=SETTINGS,
        credentials=lambda sandbox: CREDENTIALS,
        bad_credentials=lambda sandbox: {"bot_token": "xoxb-revoked"},
        paged_type="message",
        seed=lambda sandbox, count, start: sandbox.seed_messages(count, start=start, step=timedelta(seconds=2)),
        change_one=lambda sandbox: sandbox.edit(_first_ts(sandbox), "Edited in Slack")["ts"],
        add_one=lambda sandbox: sandbox.post("Posted in Slack")["ts"],
        create_type="message",
        create_data={"text": "Build 42 is green"},
        update_data={"text": "Build 42 is green (deployed)"},
        updated_field=("text", "Build 42 is green (deployed)"),
        webhook=webhook,
        stale_webhook=stale_webhook,
        webhook_credentials=lambda secret: {"signing_secret": secret},
        expected_refs=lambda sandbox: [{"object_type": "message", "id": _first_ts(sandbox), "deleted": False}],
    )


@pytest.fixture
def slack(sandbox_for, provider_factory):
    sandbox = sandbox_for("slack")
    return sandbox, provider_factory("slack", sandbox.url, settings=SETTINGS, credentials=CREDENTIALS)


@pytest.fixture
def slack_connector(sandbox_for, organization, loopback_allowed):
    sandbox = sandbox_for("slack")
    connector = services.create_connector(
        organization=organization,
        actor=None,
        name="Slack",
        provider="slack",
        base_url=sandbox.url,
        settings_=SETTINGS,
        credentials={**CREDENTIALS, "signing_secret": WEBHOOK_SECRET},
    )
    return sandbox, connector


def _post(client, connector, call):
    return client.post(
        f"/hooks/{connector.pk}/", data=call.body, content_type=call.headers["Content-Type"], headers=call.headers
    )


def test_the_url_verification_challenge_is_echoed(slack_connector, client):
    sandbox, connector = slack_connector

    response = _post(client, connector, sandbox.url_verification(WEBHOOK_SECRET, challenge="abc123"))

    assert response.status_code == 200
    assert response.json() == {"challenge": "abc123"}


def test_nofx_status_answers_with_the_organization_s_integration_health(slack_connector, client):
    # given the organization's connectors and one failing health check
    from apps.connectors.providers.base import ConnectionCheck

    sandbox, connector = slack_connector
    services.record_health_sample(connector=connector, check=ConnectionCheck(True, 12.0, 200))
    # when
    response = _post(client, connector, sandbox.slash_command("status", WEBHOOK_SECRET))
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["response_type"] == "ephemeral"
    assert body["text"] == "1 of 1 connectors healthy."
    assert "Slack (slack): active, uptime 24 h 100.0%" in body["blocks"][1]["text"]["text"]
    assert WebhookDelivery.objects.get().status == DeliveryStatus.PROCESSED


def test_a_slash_command_with_a_forged_signature_gets_no_answer(slack_connector, client):
    sandbox, connector = slack_connector

    response = _post(client, connector, sandbox.slash_command("status", "forged-secret-xxxxxxxx"))

    assert response.status_code == 401
    assert "connectors healthy" not in response.content.decode()


def test_another_command_gets_help(slack_connector, client):
    sandbox, connector = slack_connector

    response = _post(client, connector, sandbox.slash_command("dance", WEBHOOK_SECRET))

    assert "/nofx status" in response.json()["text"]


def test_a_notification_is_posted_as_blocks(slack):
    sandbox, provider = slack

    result = provider.post_notification(
        channel="C0SYNCFAIL",
        notification=Notification(
            title="Sync failed",
            text="Jira -> ServiceNow stopped",
            severity="error",
            link="https://nofx.example/r/1",
            facts=(("Workflow", "ITSM"),),
        ),
    )

    message = sandbox.messages["C0SYNCFAIL"][result["ts"]]
    assert message["text"] == "Sync failed"
    assert message["blocks"][0] == {"type": "header", "text": {"type": "plain_text", "text": "Sync failed"}}
    assert "Open in NOFX" in message["blocks"][-1]["elements"][0]["text"]


def test_channels_are_listed_through_the_cursor(slack):
    sandbox, provider = slack
    for n in range(5):
        sandbox.add_channel(f"C0EXTRA{n}", f"extra-{n}")

    result = provider.invoke("list_channels", {})

    assert len(result["channels"]) == 7
    assert all(call.arg("limit") == "200" for call in sandbox.calls("GET", "conversations.list"))


def test_an_error_in_a_200_answer_is_an_error(slack):
    from apps.connectors.errors import RecordNotFound

    _sandbox, provider = slack

    with pytest.raises(RecordNotFound):
        provider.update("message", "1700000000.000001", {"text": "nothing there"})
