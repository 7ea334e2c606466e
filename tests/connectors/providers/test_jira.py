"""The Jira Cloud provider against the Jira sandbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apps.connectors.sandboxes import jira as sandbox_module
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

SETTINGS = {"email": sandbox_module.EMAIL, "project_key": sandbox_module.PROJECT, "board_id": sandbox_module.BOARD_ID}
CREDENTIALS = {"api_token": sandbox_module.API_TOKEN}


@pytest.fixture
def case() -> ProviderCase:
    def webhook(sandbox, secret):
        issue = sandbox.add_issue("Webhook subject")
        return sandbox.signed_webhook("jira:issue_updated", issue["id"], secret)

    def stale_webhook(sandbox, secret):
        issue = sandbox.add_issue("Old news")
        return sandbox.signed_webhook(
            "jira:issue_updated", issue["id"], secret, sent_at=datetime.now(tz=UTC) - timedelta(hours=1)
        )

    return ProviderCase(
        kind="jira",
        sandbox="jira",
        settings=SETTINGS,
        credentials=lambda sandbox: CREDENTIALS,
        bad_credentials=lambda sandbox: {"api_token": "revoked"},
        paged_type="issue",
        seed=lambda sandbox, count, start: sandbox.seed_issues(count, start=start, step=timedelta(seconds=3)),
        change_one=lambda sandbox: sandbox.touch_issue("10002", summary="Changed in Jira")["id"],
        add_one=lambda sandbox: sandbox.add_issue("Raised in Jira")["id"],
        create_type="issue",
        create_data={"summary": "Created through NOFX", "description": "Line one\nLine two", "labels": ["sync"]},
        update_data={"summary": "Renamed", "status": "In Progress"},
        updated_field=("status", "In Progress"),
        webhook=webhook,
        stale_webhook=stale_webhook,
        expected_refs=lambda sandbox: [{"object_type": "issue", "id": "10001", "deleted": False}],
    )


@pytest.fixture
def jira(sandbox_for, provider_factory):
    sandbox = sandbox_for("jira")
    return sandbox, provider_factory("jira", sandbox.url, settings=SETTINGS, credentials=CREDENTIALS)


def test_jql_dates_are_written_in_the_user_s_time_zone(jira):
    # given a user in Tokyo (UTC+9) and an issue updated at 10:05:30 UTC
    sandbox, provider = jira
    sandbox.user_time_zone = "Asia/Tokyo"
    sandbox.add_issue("Seen", updated=datetime(2026, 3, 1, 10, 5, 30, tzinfo=UTC))
    first = provider.read_changes("issue", None)
    # when
    provider.read_changes("issue", first.next_cursor)
    # then the watermark is asked for in Tokyo time, rounded down to the minute
    jql = sandbox.calls("POST", "/search/jql")[-1].json()["jql"]
    assert jql == 'project = NOFX AND updated >= "2026-03-01 19:05" ORDER BY updated ASC'


def test_descriptions_travel_as_atlassian_document_format(jira):
    sandbox, provider = jira

    record = provider.create("issue", {"summary": "Formatted", "description": "First\nSecond"})

    stored = sandbox.issues[record.id]["fields"]["description"]
    assert stored["type"] == "doc"
    assert [p["content"][0]["text"] for p in stored["content"]] == ["First", "Second"]
    assert record.data["description"] == "First\nSecond"


def test_sprints_are_read_page_by_page_and_start_over_next_run(jira):
    # given a board with five sprints
    _sandbox, provider = jira
    # when
    first = provider.read_changes("sprint", None, page_size=2)
    second = provider.read_changes("sprint", first.next_cursor, page_size=2)
    third = provider.read_changes("sprint", second.next_cursor, page_size=2)
    # then
    names = [r.data["name"] for r in first.records + second.records + third.records]
    assert names == [f"NOFX Sprint {n}" for n in range(1, 6)]
    assert (first.has_more, second.has_more, third.has_more) == (True, True, False)
    assert third.next_cursor is None


def test_an_action_moves_an_issue_through_the_workflow(jira):
    sandbox, provider = jira
    issue = sandbox.add_issue("Ready")

    result = provider.invoke("transition_issue", {"issue": issue["key"], "status": "Done"})

    assert result == {"id": issue["id"], "status": "Done"}


def test_an_unknown_status_is_refused_with_the_reason(jira):
    from apps.connectors.errors import InvalidRequest

    sandbox, provider = jira
    issue = sandbox.add_issue("Ready")

    with pytest.raises(InvalidRequest, match="Blocked"):
        provider.invoke("transition_issue", {"issue": issue["id"], "status": "Blocked"})


def test_a_comment_is_added_as_a_document(jira):
    sandbox, provider = jira
    issue = sandbox.add_issue("Discuss")

    provider.invoke("add_comment", {"issue": issue["id"], "body": "Synced from GitHub"})

    assert sandbox.comments[0]["body"]["content"][0]["content"][0]["text"] == "Synced from GitHub"


def test_a_missing_summary_is_reported_as_an_invalid_request(jira):
    from apps.connectors.errors import InvalidRequest

    _sandbox, provider = jira

    with pytest.raises(InvalidRequest) as caught:
        provider.create("issue", {"summary": ""})
    assert caught.value.body["errors"]["summary"]


def test_a_deleted_issue_is_gone(jira):
    from apps.connectors.errors import RecordNotFound

    sandbox, provider = jira
    issue = sandbox.add_issue("Temporary")

    provider.delete("issue", issue["id"])

    with pytest.raises(RecordNotFound):
        provider.get("issue", issue["id"])


def test_creating_an_issue_with_a_status_moves_it_there_after_the_create(jira):
    # given
    sandbox, provider = jira
    # when
    record = provider.create("issue", {"summary": "Started elsewhere", "status": "In Progress"})
    # then
    assert record.data["status"] == "In Progress"
    assert sandbox.issues[record.id]["fields"]["status"]["name"] == "In Progress"
    assert len(sandbox.issues) == 1


def test_creating_an_issue_in_the_status_it_starts_in_needs_no_transition(jira):
    # given a status the new issue already has (Jira offers no transition from a status to itself)
    sandbox, provider = jira
    sandbox.log.clear()
    # when
    record = provider.create("issue", {"summary": "New elsewhere too", "status": "to do"})
    # then
    assert record.data["status"] == "To Do"
    assert [call.path for call in sandbox.log if call.path.endswith("/transitions")] == []
    assert len(sandbox.issues) == 1


def test_updating_an_issue_to_its_own_status_in_another_case_needs_no_transition(jira):
    # given
    sandbox, provider = jira
    issue = sandbox.add_issue("Already done")
    sandbox.touch_issue(issue["id"], status={"name": "Done", "statusCategory": {"key": "done"}})
    # when
    record = provider.update("issue", issue["id"], {"status": "done"})
    # then
    assert record.data["status"] == "Done"


def test_creating_an_issue_with_a_status_no_transition_reaches_leaves_no_issue_behind(jira):
    from apps.connectors.errors import InvalidRequest

    # given
    sandbox, provider = jira
    # when
    with pytest.raises(InvalidRequest, match="Blocked"):
        provider.create("issue", {"summary": "Blocked elsewhere", "status": "Blocked"})
    # then a retry of the create cannot make a duplicate of a half-made issue
    assert sandbox.issues == {}


def test_when_the_undo_of_a_create_is_refused_the_status_problem_is_still_what_is_reported(jira, monkeypatch):
    from apps.connectors.errors import ConnectorError, InvalidRequest

    # given a Jira that refuses to delete issues
    sandbox, provider = jira
    send = provider.http.request

    def refuse_deletes(method, url, **kwargs):
        if method == "DELETE":
            raise ConnectorError("You may not delete issues.", status=403)
        return send(method, url, **kwargs)

    monkeypatch.setattr(provider.http, "request", refuse_deletes)
    # when / then
    with pytest.raises(InvalidRequest, match="Blocked"):
        provider.create("issue", {"summary": "Blocked elsewhere", "status": "Blocked"})
    assert len(sandbox.issues) == 1
