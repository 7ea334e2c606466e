"""A signed webhook from either side triggers a near-real-time run for the records it names."""

from __future__ import annotations

import pytest

from apps.connectors.models import WebhookDelivery
from apps.sync import services
from apps.sync.models import DataMovement, DeletePolicy, Direction, LinkState, RecordLink, RunOperation
from tests.sync.conftest import WEBHOOK_SECRET

pytestmark = pytest.mark.django_db


def deliver(client, connector, call):
    headers = {k: v for k, v in call.headers.items() if k.lower() != "content-type"}
    return client.post(f"/hooks/{connector.pk}/", data=call.body, content_type="application/json", headers=headers)


def test_a_webhook_from_the_source_carries_the_change_at_once_without_moving_the_cursor(
    client, systems, connectors, make_workflow, run_sync, django_capture_on_commit_callbacks
):
    # given
    left, right = systems
    issue = left.add_issue("Printer", body="Floor 2")
    workflow = make_workflow()
    run_sync(workflow)
    workflow.refresh_from_db()
    cursor = workflow.source_cursor
    # when the issue changes on GitHub and GitHub says so
    left.touch_issue(issue["number"], body="Floor 3")
    call = left.signed_webhook("issues", left.issue_event(issue["number"], "edited"), WEBHOOK_SECRET)
    with django_capture_on_commit_callbacks(execute=True):
        response = deliver(client, connectors[0], call)
    # then
    assert response.status_code == 202
    [target] = right.issues.values()
    assert target["body"] == "Floor 3"
    run = workflow.runs.order_by("-started_at").first()
    assert (run.trigger, run.operation_type, run.records_succeeded) == ("webhook", RunOperation.RECORDS, 1)
    delivery = WebhookDelivery.objects.get(connector=connectors[0])
    movement = DataMovement.objects.get(workflow=workflow, operation="update")
    assert movement.origin["delivery"] == str(delivery.pk)
    assert movement.trigger == "webhook"
    workflow.refresh_from_db()
    assert workflow.source_cursor == cursor
    # and the scheduled run that follows sees nothing left to do
    right.log.clear()
    later = run_sync(workflow)
    assert [call for call in right.log if call.method != "GET"] == []
    assert later.records_succeeded == 0


def test_a_webhook_from_the_target_side_reaches_the_source_of_a_bidirectional_workflow(
    client, systems, connectors, make_workflow, run_sync, django_capture_on_commit_callbacks
):
    # given
    left, right = systems
    issue = left.add_issue("Printer")
    workflow = make_workflow(direction=Direction.BIDIRECTIONAL)
    run_sync(workflow)
    [number] = right.issues
    # when
    right.touch_issue(number, state="closed")
    call = right.signed_webhook("issues", right.issue_event(number, "closed"), WEBHOOK_SECRET)
    with django_capture_on_commit_callbacks(execute=True):
        deliver(client, connectors[1], call)
    # then
    assert left.issues[issue["number"]]["state"] == "closed"


def test_a_deletion_webhook_applies_the_delete_policy(
    client, systems, connectors, make_workflow, run_sync, django_capture_on_commit_callbacks
):
    # given
    left, right = systems
    issue = left.add_issue("Printer")
    workflow = make_workflow(delete_policy=DeletePolicy.TOMBSTONE, tombstone_values={"target": {"state": "closed"}})
    run_sync(workflow)
    # when the issue is deleted on GitHub and the deletion is announced
    payload = left.issue_event(issue["number"], "deleted")
    del left.issues[issue["number"]]
    call = left.signed_webhook("issues", payload, WEBHOOK_SECRET)
    with django_capture_on_commit_callbacks(execute=True):
        deliver(client, connectors[0], call)
    # then
    [partner] = right.issues.values()
    assert partner["state"] == "closed"
    assert RecordLink.objects.get(workflow=workflow).state == LinkState.TOMBSTONED


def test_a_paused_workflow_ignores_webhooks(
    client, systems, connectors, make_workflow, run_sync, owner, django_capture_on_commit_callbacks
):
    # given
    left, right = systems
    issue = left.add_issue("Printer")
    workflow = make_workflow()
    run_sync(workflow)
    services.set_workflow_paused(workflow=workflow, actor=owner, paused=True)
    # when
    left.touch_issue(issue["number"], body="changed")
    call = left.signed_webhook("issues", left.issue_event(issue["number"], "edited"), WEBHOOK_SECRET)
    with django_capture_on_commit_callbacks(execute=True):
        deliver(client, connectors[0], call)
    # then
    [partner] = right.issues.values()
    assert partner["body"] == ""
    assert workflow.runs.count() == 1


def test_a_delivery_for_another_object_type_queues_nothing(systems, connectors, make_workflow):
    # given
    make_workflow()
    delivery = WebhookDelivery.objects.create(
        organization=connectors[0].organization,
        connector=connectors[0],
        status="accepted",
        body_sha256="0" * 64,
        affected=[{"object_type": "issue_comment", "id": "7", "deleted": False}],
    )
    # when / then
    assert services.consume_webhook_delivery(delivery=delivery) == 0
