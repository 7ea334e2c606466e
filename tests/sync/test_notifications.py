"""A run that stops, or leaves records failing, reaches the channels the organization routes sync events to."""

from __future__ import annotations

import pytest

from apps.connectors import services as connector_services
from apps.connectors.sandboxes.slack import CHANNEL_ID

pytestmark = pytest.mark.django_db

ALERTS = "C0SYNCFAIL"


@pytest.fixture
def slack(connect_sandbox, organization, sandbox_for):
    connector = connect_sandbox("slack")
    connector_services.create_notification_route(
        organization=organization,
        actor=None,
        name="Sync trouble",
        connector=connector,
        channel=ALERTS,
        event_types=["sync.*"],
        min_severity="warning",
    )
    return sandbox_for("slack")


def test_a_run_that_leaves_a_record_failing_is_announced(
    slack, systems, make_workflow, run_sync, django_capture_on_commit_callbacks
):
    # given
    left, _right = systems
    left.add_issue("x" * 300)
    workflow = make_workflow()
    # when
    with django_capture_on_commit_callbacks(execute=True):
        run = run_sync(workflow)
    # then
    [message] = slack.messages[ALERTS].values()
    assert workflow.name in message["text"]
    assert str(run.pk) in str(message)
    assert slack.messages[CHANNEL_ID] == {}


def test_a_clean_run_says_nothing(slack, systems, make_workflow, run_sync, django_capture_on_commit_callbacks):
    left, _right = systems
    left.add_issue("Printer")
    workflow = make_workflow()

    with django_capture_on_commit_callbacks(execute=True):
        run_sync(workflow)

    assert slack.messages[ALERTS] == {}
