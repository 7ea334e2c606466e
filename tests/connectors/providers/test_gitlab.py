"""The GitLab provider against the GitLab sandbox."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from apps.connectors.sandboxes import gitlab as sandbox_module
from tests.connectors.providers.conformance import (  # noqa: F401 - shared tests collected here
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

SETTINGS = {"project": sandbox_module.PROJECT_PATH}
CREDENTIALS = {"token": sandbox_module.TOKEN}


def signing_key(secret: str) -> str:
    """A Standard Webhooks key derived from the shared test secret."""
    return "whsec_" + base64.b64encode(secret.encode().ljust(32, b"-")[:32]).decode()


@pytest.fixture
def case() -> ProviderCase:
    def webhook(sandbox, secret):
        issue = sandbox.add_issue("Hooked")
        return sandbox.signed_webhook(sandbox.issue_hook_body(issue["iid"]), signing_key(secret))

    def stale_webhook(sandbox, secret):
        issue = sandbox.add_issue("Old news")
        sent_at = datetime.now(tz=UTC) - timedelta(minutes=30)
        return sandbox.signed_webhook(sandbox.issue_hook_body(issue["iid"]), signing_key(secret), sent_at=sent_at)

    return ProviderCase(
        kind="gitlab",
        sandbox="gitlab",
        settings=SETTINGS,
        credentials=lambda sandbox: CREDENTIALS,
        bad_credentials=lambda sandbox: {"token": "glpat-revoked"},
        paged_type="issue",
        seed=lambda sandbox, count, start: sandbox.seed_issues(count, start=start, step=timedelta(seconds=2)),
        change_one=lambda sandbox: str(sandbox.touch_issue(3, title="Changed on GitLab")["iid"]),
        add_one=lambda sandbox: str(sandbox.add_issue("Opened on GitLab")["iid"]),
        create_type="issue",
        create_data={"title": "Created through NOFX", "description": "From ServiceNow", "labels": ["sync", "itsm"]},
        update_data={"state": "closed"},
        updated_field=("state", "closed"),
        webhook=webhook,
        stale_webhook=stale_webhook,
        webhook_credentials=lambda secret: {"webhook_signing_key": signing_key(secret)},
        expected_refs=lambda sandbox: [{"object_type": "issue", "id": "1", "deleted": False}],
    )


@pytest.fixture
def gitlab(sandbox_for, provider_factory):
    sandbox = sandbox_for("gitlab")
    return sandbox, provider_factory("gitlab", sandbox.url, settings=SETTINGS, credentials=CREDENTIALS)


def test_pages_follow_x_next_page_with_updated_after(gitlab):
    # given
    sandbox, provider = gitlab
    sandbox.seed_issues(3, start=datetime(2026, 4, 1, 12, tzinfo=UTC))
    first = provider.read_changes("issue", None, page_size=2)
    # when
    provider.read_changes("issue", first.next_cursor, page_size=2)
    # then
    call = sandbox.calls("GET", "/issues")[-1]
    assert call.arg("updated_after") == "2026-04-01T12:00:01.000Z"
    assert (call.arg("order_by"), call.arg("sort"), call.arg("per_page")) == ("updated_at", "asc", "2")
    assert call.header("private-token") == sandbox_module.TOKEN


def test_notes_go_to_issues_and_merge_requests(gitlab):
    sandbox, provider = gitlab
    sandbox.add_issue("Discuss")

    provider.invoke("comment_on_issue", {"issue_iid": 1, "body": "On the issue"})
    provider.invoke("comment_on_merge_request", {"merge_request_iid": 7, "body": "On the MR"})

    assert [(n["noteable_type"], n["noteable_iid"]) for n in sandbox.notes] == [("Issue", 1), ("MergeRequest", 7)]


def test_a_pipeline_is_triggered_on_the_default_ref_with_variables(gitlab):
    sandbox, provider = gitlab

    result = provider.invoke("trigger_pipeline", {"variables": {"SYNC_RUN": "42"}})

    assert result["status"] == "created"
    assert sandbox.pipelines[0]["ref"] == "main"
    assert sandbox.pipelines[0]["variables"] == [{"key": "SYNC_RUN", "value": "42", "variable_type": "env_var"}]


def test_a_legacy_secret_token_hook_is_accepted_and_a_wrong_token_refused(
    gitlab, organization, loopback_allowed, client
):
    from apps.connectors import services
    from apps.connectors.models import WebhookDelivery

    sandbox, _provider = gitlab
    connector = services.create_connector(
        organization=organization,
        actor=None,
        name="GL",
        provider="gitlab",
        base_url=sandbox.url,
        settings_=SETTINGS,
        credentials={**CREDENTIALS, "webhook_secret": "plain-token"},
    )
    issue = sandbox.add_issue("Legacy")
    good = sandbox.token_webhook(sandbox.issue_hook_body(issue["iid"]), "plain-token")
    bad = sandbox.token_webhook(sandbox.issue_hook_body(issue["iid"], "close"), "guess")

    accepted = client.post(
        f"/hooks/{connector.pk}/", data=good.body, content_type="application/json", headers=good.headers
    )
    refused = client.post(
        f"/hooks/{connector.pk}/", data=bad.body, content_type="application/json", headers=bad.headers
    )

    assert (accepted.status_code, refused.status_code) == (202, 401)
    assert sorted(WebhookDelivery.objects.values_list("status", flat=True)) == ["accepted", "rejected"]


def test_an_unsigned_delivery_is_refused_once_a_signing_key_is_set(gitlab, organization, loopback_allowed, client):
    from apps.connectors import services

    sandbox, _provider = gitlab
    connector = services.create_connector(
        organization=organization,
        actor=None,
        name="GL",
        provider="gitlab",
        base_url=sandbox.url,
        settings_=SETTINGS,
        credentials={**CREDENTIALS, "webhook_secret": "plain-token", "webhook_signing_key": signing_key("k")},
    )
    call = sandbox.token_webhook(sandbox.issue_hook_body(1), "plain-token")

    response = client.post(
        f"/hooks/{connector.pk}/", data=call.body, content_type="application/json", headers=call.headers
    )

    assert response.status_code == 401
    assert response.json()["reason"] == "missing_signature"
