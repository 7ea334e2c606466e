"""`manage.py reconcile <workflow>`: both sides compared in full, agreement reported, optionally repaired."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.security.models import AuditEvent
from apps.sync import services
from apps.sync.leases import acquire_run_lease
from apps.sync.models import Direction, LinkState, RecordLink, RunOperation
from tests.factories.sync import IntegrationWorkflowFactory
from tests.sync.conftest import circular_feed

pytestmark = pytest.mark.django_db


def reconcile(*args):
    out = io.StringIO()
    call_command("reconcile", *args, stdout=out)
    return out.getvalue()


def reconcile_json(workflow, *extra):
    return json.loads(reconcile(str(workflow.pk), "--json", *extra))


def test_a_workflow_in_step_agrees_fully(systems, make_workflow, run_sync):
    # given
    left, _right = systems
    for n in range(5):
        left.add_issue(f"Issue {n}")
    workflow = make_workflow()
    run_sync(workflow)
    # when
    report = reconcile_json(workflow)["before"]
    # then
    assert report["agreement_percent"] == 100.0
    assert (report["agreeing"], report["expected"], report["source_records"], report["target_records"]) == (5, 5, 5, 5)
    assert report["duplicates_count"] == report["missing_on_target_count"] == 0
    run = workflow.runs.get(operation_type=RunOperation.RECONCILE)
    assert run.stats["reconcile"]["before"]["agreement_percent"] == 100.0


def test_missing_differing_and_vanished_records_are_found_and_repaired(systems, make_workflow, run_sync):
    # given a workflow in step, then changes behind its back
    left, right = systems
    numbers = [left.add_issue(f"Issue {n}", body="same")["number"] for n in range(4)]
    workflow = make_workflow()
    run_sync(workflow)
    partner = {link.source_id: int(link.target_id) for link in RecordLink.objects.filter(workflow=workflow)}
    left.add_issue("Never synced")  # missing on the target
    right.issues[partner[str(numbers[0])]]["body"] = "edited behind our back"  # differs, the feed never says so
    del right.issues[partner[str(numbers[1])]]  # gone from the target
    # when
    text = reconcile(workflow.name)
    # then
    assert "agreement 40.0% (2/5)" in text
    assert "differs: " in text
    report = reconcile_json(workflow)["before"]
    assert report["missing_on_target"] == [str(left.next_number - 1)]
    assert [item["fields"] for item in report["differing"]] == [["body"]]
    assert [item["gone_from"] for item in report["vanished"]] == ["target"]
    # when repaired
    result = reconcile_json(workflow, "--repair")
    # then
    assert result["after"]["agreement_percent"] == 100.0
    assert right.issues[partner[str(numbers[0])]]["body"] == "same"
    assert "Never synced" in [issue["title"] for issue in right.issues.values()]
    vanished = RecordLink.objects.get(workflow=workflow, source_id=str(numbers[1]))
    assert vanished.state == LinkState.TOMBSTONED  # the default delete policy: the target deletion stands
    assert AuditEvent.objects.filter(action="sync.workflow_reconciled", data__repair=True).exists()


def test_a_record_created_twice_is_reported_as_a_duplicate_and_left_alone(systems, make_workflow, run_sync):
    # given a second copy of a synced record on the target, as a create sent twice would leave
    left, right = systems
    left.add_issue("Printer", body="Floor 2")
    workflow = make_workflow()
    run_sync(workflow)
    right.add_issue("Printer", body="Floor 2")
    # when
    result = reconcile_json(workflow, "--repair")
    # then
    assert result["before"]["duplicates_count"] == 1
    assert result["after"]["duplicates_count"] == 1
    assert len(right.issues) == 2


def test_a_bidirectional_workflow_counts_records_missing_on_the_source(systems, make_workflow, run_sync):
    # given
    left, right = systems
    workflow = make_workflow(direction=Direction.BIDIRECTIONAL)
    run_sync(workflow)
    right.add_issue("Only on the target")
    # when
    result = reconcile_json(workflow, "--repair")
    # then
    assert result["before"]["missing_on_source_count"] == 1
    assert result["after"]["agreement_percent"] == 100.0
    assert [issue["title"] for issue in left.issues.values()] == ["Only on the target"]


def test_a_one_way_workflow_does_not_count_the_targets_own_records(systems, make_workflow, run_sync):
    # given
    _left, right = systems
    workflow = make_workflow()
    right.add_issue("The target's own")
    run_sync(workflow)
    # when
    report = reconcile_json(workflow)["before"]
    # then
    assert report["agreement_percent"] == 100.0
    assert report["unlinked_target"] == 1


def test_it_refuses_while_a_run_holds_the_workflow(systems, make_workflow):
    workflow = make_workflow()
    acquire_run_lease(workflow_id=workflow.pk)

    with pytest.raises(CommandError, match="in progress"):
        reconcile(str(workflow.pk))


def test_an_unknown_or_ambiguous_workflow_is_named(systems, make_workflow):
    with pytest.raises(CommandError, match="No workflow"):
        reconcile("nothing-like-it")


def test_repair_is_refused_on_a_paused_workflow(systems, make_workflow, owner):
    workflow = make_workflow()
    services.set_workflow_paused(workflow=workflow, actor=owner, paused=True)

    with pytest.raises(CommandError, match="paused"):
        reconcile(str(workflow.pk), "--repair")


def test_a_name_two_organizations_use_needs_the_organization(systems, make_workflow, other_organization):
    # given
    workflow = make_workflow()
    IntegrationWorkflowFactory(organization=other_organization, name=workflow.name)
    # when / then
    with pytest.raises(CommandError, match="--organization"):
        reconcile(workflow.name)
    assert "agreement 100.0%" in reconcile(workflow.name, "--organization", workflow.organization.slug)


def test_a_side_it_cannot_read_in_full_is_reported_not_guessed(systems, make_workflow, monkeypatch):
    # given a target whose change feed keeps handing back the records it already returned
    _left, right = systems
    right.seed_issues(30, start=timezone.now() - timedelta(minutes=1))
    circular_feed(monkeypatch, right)
    workflow = make_workflow()
    # when / then
    with pytest.raises(CommandError, match="kept returning records already read"):
        reconcile(str(workflow.pk))
    assert workflow.runs.get(operation_type=RunOperation.RECONCILE).status == "failed"
