"""The GitHub provider against the GitHub sandbox."""

from __future__ import annotations

from datetime import timedelta

import pytest

from apps.connectors.errors import NotSupported
from apps.connectors.sandboxes import github as sandbox_module
from tests.connectors.providers.conformance import (  # noqa: F401 - shared tests collected here
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

SETTINGS = {"owner": sandbox_module.OWNER, "repo": sandbox_module.REPO}


def github_case(kind: str = "github", manifest=None) -> ProviderCase:
    def seed(sandbox, count, start):
        sandbox.seed_issues(count, start=start, step=timedelta(seconds=3))

    def change_one(sandbox):
        return str(sandbox.touch_issue(2, title="Changed on GitHub")["number"])

    def add_one(sandbox):
        return str(sandbox.add_issue("Opened on GitHub")["number"])

    def webhook(sandbox, secret):
        issue = sandbox.add_issue("Webhook subject")
        return sandbox.signed_webhook("issues", sandbox.issue_event(issue["number"], "edited"), secret)

    return ProviderCase(
        kind=kind,
        sandbox="github",
        settings=SETTINGS,
        credentials=lambda sandbox: {"token": sandbox_module.TOKEN},
        bad_credentials=lambda sandbox: {"token": "ghp_revoked"},
        paged_type="issue",
        seed=seed,
        change_one=change_one,
        add_one=add_one,
        create_type="issue",
        create_data={"title": "Created through NOFX", "body": "From the sync engine", "labels": ["sync"]},
        update_data={"state": "closed", "title": "Renamed through NOFX"},
        updated_field=("state", "closed"),
        webhook=webhook,
        expected_refs=lambda sandbox: [{"object_type": "issue", "id": "1", "deleted": False}],
        manifest=manifest,
    )


@pytest.fixture
def case() -> ProviderCase:
    return github_case()


@pytest.fixture
def github(sandbox_for, provider_factory):
    sandbox = sandbox_for("github")
    return sandbox, provider_factory(
        "github", sandbox.url, settings=SETTINGS, credentials={"token": sandbox_module.TOKEN}
    )


def test_pull_requests_are_not_read_as_issues(github):
    # given
    sandbox, provider = github
    sandbox.add_issue("A real issue")
    sandbox.add_issue("A pull request", pull_request=True)
    # when
    page = provider.read_changes("issue", None)
    # then
    assert [r.data["title"] for r in page.records] == ["A real issue"]


def test_the_since_parameter_carries_the_watermark(github):
    # given
    sandbox, provider = github
    sandbox.add_issue("First")
    first = provider.read_changes("issue", None)
    # when
    provider.read_changes("issue", first.next_cursor)
    # then
    listing = sandbox.calls("GET", "/issues")[-1]
    assert listing.arg("since") == sandbox.issues[1]["updated_at"]
    assert (listing.arg("sort"), listing.arg("direction"), listing.arg("state")) == ("updated", "asc", "all")


def test_a_comment_made_through_an_action_lands_on_the_issue(github):
    sandbox, provider = github
    sandbox.add_issue("Needs a comment")

    result = provider.invoke("comment_on_issue", {"issue_number": 1, "body": "Synced from Jira"})

    assert result["url"].endswith(f"#issuecomment-{result['id']}")
    assert [c["body"] for c in sandbox.comments.values()] == ["Synced from Jira"]


def test_a_commit_status_is_set(github):
    sandbox, provider = github

    result = provider.invoke("set_commit_status", {"sha": "a1b2c3d4", "state": "success", "context": "nofx/sync"})

    assert result["state"] == "success"
    assert sandbox.statuses[0]["sha"] == "a1b2c3d4"


def test_issue_comments_are_read_incrementally(github):
    # given
    sandbox, provider = github
    sandbox.add_issue("Discussed")
    provider.create("issue_comment", {"issue_number": 1, "body": "one"})
    first = provider.read_changes("issue_comment", None)
    # when
    provider.create("issue_comment", {"issue_number": 1, "body": "two"})
    second = provider.read_changes("issue_comment", first.next_cursor)
    # then
    assert [r.data["body"] for r in first.records] == ["one"]
    assert [r.data["body"] for r in second.records] == ["two"]
    assert second.records[0].data["issue_number"] == 1


def test_issues_cannot_be_deleted_through_the_rest_api(github):
    _sandbox, provider = github

    with pytest.raises(NotSupported):
        provider.delete("issue", "1")


def test_a_record_changed_twice_within_one_second_is_read_again(github):
    # given an issue read once
    sandbox, provider = github
    sandbox.add_issue("Stable")
    first = provider.read_changes("issue", None)
    # when it changes again with the same second-precision timestamp
    sandbox.issues[1]["title"] = "Edited in the same second"
    second = provider.read_changes("issue", first.next_cursor)
    # then the new content still comes back
    assert [r.data["title"] for r in second.records] == ["Edited in the same second"]
