"""`manage.py seed_demo` connects Acme to the vendor sandboxes and creates one workflow per template."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from apps.connectors.models import Connector
from apps.connectors.sandboxes import SANDBOXES
from apps.sync.models import IntegrationWorkflow, WorkflowStatus
from apps.sync.workflow_templates import TEMPLATES

pytestmark = pytest.mark.django_db


def seed(tmp_path) -> str:
    out = io.StringIO()
    call_command("seed_demo", credentials_file=tmp_path / "creds.txt", force=True, stdout=out)
    return out.getvalue()


def test_the_demo_gets_sandbox_connectors_and_a_scheduled_workflow_per_template(settings, tmp_path):
    # given
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
    # when run twice
    seed(tmp_path)
    output = seed(tmp_path)
    # then
    connectors = Connector.objects.filter(organization__slug="acme", name__startswith="Sandbox ")
    assert connectors.count() == len(SANDBOXES)
    assert {c.base_url.rsplit(":", 1)[1] for c in connectors} == {str(port) for port in range(8701, 8709)}
    workflows = IntegrationWorkflow.objects.filter(organization__slug="acme")
    assert sorted(workflows.values_list("template_key", flat=True)) == sorted(t.key for t in TEMPLATES)
    assert set(workflows.values_list("status", flat=True)) == {WorkflowStatus.ACTIVE}
    tasks = PeriodicTask.objects.filter(pk__in=workflows.values_list("periodic_task", flat=True), enabled=True)
    assert {task.interval.every for task in tasks} == {60}
    assert f"{len(TEMPLATES)} template workflows (0 created this run)" in output
    teams = connectors.get(provider="teams")
    assert teams.settings["login_url"] == teams.base_url


def test_without_loopback_access_the_integration_demo_is_left_out_and_says_why(settings, tmp_path):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False

    output = seed(tmp_path)

    assert "Integration demo skipped" in output
    assert not IntegrationWorkflow.objects.exists()
