"""Connector services: secrets at rest, token write-back, health and status, actions, notifications."""

from __future__ import annotations

import pytest
from django.db import connection

from apps.accounts.roles import Role
from apps.connectors import services
from apps.connectors.connections import provider_for
from apps.connectors.errors import ActionInputInvalid
from apps.connectors.models import ConnectorStatus
from apps.connectors.providers.base import ConnectionCheck, Notification
from apps.connectors.sandboxes import github, salesforce, slack
from apps.core.exceptions import BusinessRuleViolation, NotPermitted
from apps.security.models import AuditEvent
from tests.factories.connectors import ConnectorFactory


@pytest.fixture
def github_connector(sandbox_for, organization, loopback_allowed):
    sandbox = sandbox_for("github")
    connector = services.create_connector(
        organization=organization,
        actor=None,
        name="GitHub",
        provider="github",
        base_url=sandbox.url,
        settings_={"owner": github.OWNER, "repo": github.REPO},
        credentials={"token": github.TOKEN},
    )
    return sandbox, connector


def test_credentials_are_stored_encrypted(github_connector):
    _sandbox, connector = github_connector

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT credentials FROM connectors_connector WHERE id = %s",
            [connector.pk.hex if connection.vendor == "sqlite" else connector.pk],
        )
        raw = cursor.fetchone()[0]

    assert github.TOKEN not in raw
    assert "token" not in raw


def test_a_refreshed_oauth_token_is_written_back_to_the_connector_and_audited(
    sandbox_for, organization, loopback_allowed
):
    # given a Salesforce connector with only a refresh token, on an org that rotates refresh tokens
    sandbox = sandbox_for("salesforce")
    sandbox.rotate_refresh_tokens = True
    connector = services.create_connector(
        organization=organization,
        actor=None,
        name="Salesforce",
        provider="salesforce",
        base_url=sandbox.url,
        credentials={
            "client_id": salesforce.CLIENT_ID,
            "client_secret": salesforce.CLIENT_SECRET,
            "refresh_token": salesforce.REFRESH_TOKEN,
        },
    )
    # when
    sample = services.check_connector_health(connector=connector)
    # then
    assert sample.ok
    connector.refresh_from_db()
    assert connector.credentials["access_token"] in sandbox.access_tokens
    assert connector.credentials["refresh_token"] != salesforce.REFRESH_TOKEN
    assert connector.credentials["instance_url"] == sandbox.url
    event = AuditEvent.objects.get(action="connectors.token_refreshed", target_id=str(connector.pk))
    assert set(event.data["rotated"]) >= {"access_token", "expires_at", "refresh_token", "instance_url"}
    assert salesforce.REFRESH_TOKEN not in str(event.data)


def test_a_second_provider_reuses_the_stored_token(sandbox_for, organization, loopback_allowed):
    sandbox = sandbox_for("salesforce")
    connector = services.create_connector(
        organization=organization,
        actor=None,
        name="Salesforce",
        provider="salesforce",
        base_url=sandbox.url,
        credentials={
            "client_id": salesforce.CLIENT_ID,
            "client_secret": salesforce.CLIENT_SECRET,
            "refresh_token": salesforce.REFRESH_TOKEN,
        },
    )
    services.check_connector_health(connector=connector)
    connector.refresh_from_db()

    with provider_for(connector) as provider:
        provider.read_changes("Lead")

    assert sandbox.token_requests == 1


def test_three_failed_checks_in_a_row_make_a_connector_failing_and_one_good_check_heals_it(github_connector):
    _sandbox, connector = github_connector
    down = ConnectionCheck(False, 5.0, 503, "upstream_unavailable", "503 from GitHub")

    statuses = []
    for _ in range(3):
        services.record_health_sample(connector=connector, check=down)
        statuses.append(connector.status)
    services.record_health_sample(connector=connector, check=ConnectionCheck(True, 40.0, 200))

    assert statuses == [ConnectorStatus.DEGRADED, ConnectorStatus.DEGRADED, ConnectorStatus.FAILING]
    assert connector.status == ConnectorStatus.ACTIVE
    changes = list(AuditEvent.objects.filter(action="connectors.status_changed").values_list("data", flat=True))
    assert [(c["from"], c["to"]) for c in changes] == [
        ("active", "degraded"),
        ("degraded", "failing"),
        ("failing", "active"),
    ]


def test_a_failing_connector_is_announced_on_the_organization_s_chat_channel(
    sandbox_for, github_connector, organization, loopback_allowed, django_capture_on_commit_callbacks
):
    # given a Slack connector routing connector events to the alerts channel
    slack_sandbox = sandbox_for("slack")
    chat = services.create_connector(
        organization=organization,
        actor=None,
        name="Slack",
        provider="slack",
        base_url=slack_sandbox.url,
        settings_={"channel": slack.CHANNEL_ID},
        credentials={"bot_token": slack.BOT_TOKEN},
    )
    services.create_notification_route(
        organization=organization,
        actor=None,
        name="Alerts",
        connector=chat,
        channel="C0SYNCFAIL",
        event_types=["connectors.*"],
    )
    _sandbox, connector = github_connector
    # when its credentials are revoked
    with django_capture_on_commit_callbacks(execute=True):
        services.record_health_sample(
            connector=connector, check=ConnectionCheck(False, 3.0, 401, "authentication_failed", "Bad credentials")
        )
    # then a message lands in the channel
    (message,) = slack_sandbox.messages["C0SYNCFAIL"].values()
    assert message["text"] == "Connector GitHub is failing"


def test_notify_organization_matches_event_types_and_severity(organization, django_capture_on_commit_callbacks):
    from tests.factories.connectors import NotificationRouteFactory

    NotificationRouteFactory(organization=organization, event_types=["security.*"], min_severity="warning")
    NotificationRouteFactory(organization=organization, event_types=["sync.run_failed"])

    def count(event_type: str, severity: str) -> int:
        return services.notify_organization(
            organization_id=organization.pk,
            event_type=event_type,
            notification=Notification(title="t", text="x", severity=severity),
        )

    assert count("security.burst_detected", "critical") == 1
    assert count("security.burst_detected", "info") == 0
    assert count("sync.run_failed", "info") == 1
    assert count("billing.invoice_paid", "critical") == 0


def test_an_action_runs_with_valid_input_and_is_audited(github_connector, owner):
    sandbox, connector = github_connector
    sandbox.add_issue("Needs a word")

    result = services.invoke_connector_action(
        connector=connector, action="comment_on_issue", payload={"issue_number": 1, "body": "Hello"}, actor=owner
    )

    assert result["id"] > 0
    event = AuditEvent.objects.get(action="connectors.action_invoked")
    assert event.data == {"action": "comment_on_issue", "input_fields": ["body", "issue_number"]}


def test_an_action_with_invalid_input_lists_every_violation_and_calls_nothing(github_connector, owner):
    sandbox, connector = github_connector

    with pytest.raises(ActionInputInvalid) as caught:
        services.invoke_connector_action(
            connector=connector, action="comment_on_issue", payload={"issue_number": "one", "extra": 1}, actor=owner
        )

    fields = {e["field"] for e in caught.value.errors}
    assert fields == {"input.issue_number", "input.body", "input"}
    assert sandbox.log == []


def test_an_action_needs_its_permission(github_connector, make_member, organization):
    _sandbox, connector = github_connector
    viewer = make_member(organization, Role.VIEWER)

    with pytest.raises(NotPermitted):
        services.invoke_connector_action(
            connector=connector, action="comment_on_issue", payload={"issue_number": 1, "body": "x"}, actor=viewer
        )


def test_an_action_the_connector_does_not_offer_is_refused(github_connector, owner):
    _sandbox, connector = github_connector
    services.update_connector(connector=connector, actor=owner, capabilities=["set_commit_status"])

    with pytest.raises(BusinessRuleViolation, match="does not offer"):
        services.invoke_connector_action(
            connector=connector, action="comment_on_issue", payload={"issue_number": 1, "body": "x"}, actor=owner
        )


def test_the_health_beat_checks_every_connector_but_paused_ones(github_connector, organization):
    from apps.connectors.tasks import check_all_connectors_task

    _sandbox, connector = github_connector
    paused = ConnectorFactory(organization=organization, status=ConnectorStatus.PAUSED)

    queued = check_all_connectors_task()

    assert queued == 1
    assert connector.health_samples.count() >= 1
    assert paused.health_samples.count() == 0


def test_old_history_is_pruned(organization):
    from datetime import timedelta

    from django.utils import timezone

    from apps.connectors.models import ConnectorHealthSample
    from tests.factories.connectors import WebhookDeliveryFactory

    connector = ConnectorFactory(organization=organization)
    old = timezone.now() - timedelta(days=40)
    ConnectorHealthSample.objects.create(connector=connector, checked_at=old, ok=True, latency_ms=1)
    ConnectorHealthSample.objects.create(connector=connector, ok=True, latency_ms=1)
    WebhookDeliveryFactory(connector=connector, received_at=old)

    assert services.prune_connector_history() == (1, 1)
    assert connector.health_samples.count() == 1


def test_a_person_deleting_connectors_counts_towards_the_mass_deletion_rule(
    organization, owner, settings, django_capture_on_commit_callbacks
):
    from apps.security.models import SecurityEvent

    # given a mass-deletion threshold of two records
    settings.SECURITY_DETECTOR_THRESHOLDS = {"mass_deletion_records": 2}
    doomed = [ConnectorFactory(organization=organization) for _ in range(2)]
    # when one person deletes both
    for connector in doomed:
        with django_capture_on_commit_callbacks(execute=True):
            services.delete_connector(connector=connector, actor=owner)
    # then
    event = SecurityEvent.objects.get(event_type="mass_deletion")
    assert (event.user, event.organization) == (owner, organization)


def test_a_deletion_by_the_system_is_not_counted_against_anyone(
    organization, settings, django_capture_on_commit_callbacks
):
    from apps.security.models import SecurityEvent

    settings.SECURITY_DETECTOR_THRESHOLDS = {"mass_deletion_records": 1}

    with django_capture_on_commit_callbacks(execute=True):
        services.delete_connector(connector=ConnectorFactory(organization=organization), actor=None)

    assert not SecurityEvent.objects.exists()
