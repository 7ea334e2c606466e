"""GitHub defined as a manifest passes the very tests the coded GitHub provider passes."""

from __future__ import annotations

import pytest

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
from tests.connectors.providers.test_github import (  # noqa: F401 - the GitHub-specific tests, run again
    SETTINGS,
    github_case,
    test_a_comment_made_through_an_action_lands_on_the_issue,
    test_a_commit_status_is_set,
    test_a_record_changed_twice_within_one_second_is_read_again,
    test_issue_comments_are_read_incrementally,
    test_issues_cannot_be_deleted_through_the_rest_api,
    test_pull_requests_are_not_read_as_issues,
    test_the_since_parameter_carries_the_watermark,
)


@pytest.fixture
def case() -> ProviderCase:
    return github_case(kind="github_declarative")


@pytest.fixture
def github(sandbox_for, provider_factory):
    sandbox = sandbox_for("github")
    provider = provider_factory(
        "github_declarative", sandbox.url, settings=SETTINGS, credentials={"token": sandbox_module.TOKEN}
    )
    return sandbox, provider


def test_the_manifest_provider_offers_the_same_object_types_and_actions_as_the_coded_one(github, provider_factory):
    from apps.connectors.providers.github import GitHubProvider

    _sandbox, declarative = github

    assert [o.name for o in declarative.object_types()] == [o.name for o in GitHubProvider.object_type_list]
    assert [a.name for a in declarative.actions()] == [a.name for a in GitHubProvider.action_list]
    assert {a.name: a.input_schema for a in declarative.actions()} == {
        a.name: a.input_schema for a in GitHubProvider.action_list
    }
