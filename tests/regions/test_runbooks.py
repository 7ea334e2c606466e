"""Every `manage.py` command in the region runbooks runs, with --dry-run, against a realistic region.

A renamed command or option, or a runbook example that no longer parses, fails here rather than in an incident.
"""

from __future__ import annotations

import io
import json
import re
import shlex
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command, get_commands

from apps.accounts.models import Organization
from apps.accounts.services import create_organization
from apps.regions.models import DrillRecord, MoveStatus, OrganizationMove, RegionStatus
from tests.factories.accounts import UserFactory
from tests.factories.regions import RegionFactory

pytestmark = pytest.mark.django_db

RUNBOOKS = Path(settings.BASE_DIR) / "docs" / "runbooks"
REGION_RUNBOOKS = ("incident-response.md", "regional-failover.md", "restore-from-backup.md", "region-evacuation.md")
# Commands that only read, and so have no --dry-run.
READ_ONLY = {"verify_audit_chain"}
_FENCE = re.compile(r"```sh\n(.*?)```", re.DOTALL)


def runbook_commands(name: str) -> list[list[str]]:
    text = (RUNBOOKS / name).read_text()
    commands = []
    for block in _FENCE.findall(text):
        for line in block.splitlines():
            if "manage.py" in line:
                commands.append(shlex.split(line.split("manage.py", 1)[1]))
    return commands


@pytest.fixture
def region(settings, tmp_path):
    """us-east as an operator finds it: peers, an organization, a standby, a failed-over former primary."""
    settings.REGION_BACKUP_DIR = str(tmp_path / "backups")
    settings.DATABASE_ENDPOINT_FILE = str(tmp_path / "database-endpoint.json")
    Path(settings.DATABASE_ENDPOINT_FILE).write_text(
        json.dumps(
            {
                "region": "us-east",
                "primary": {"host": "127.0.0.1", "port": 1, "dbname": "nofx", "data_directory": "/srv/pg/a"},
                "standby": {"host": "127.0.0.1", "port": 2, "dbname": "nofx", "data_directory": "/srv/pg/b"},
                "needs_rebuild": {"host": "127.0.0.1", "port": 3, "dbname": "nofx", "data_directory": "/srv/pg/c"},
                "synchronous": True,
            }
        )
    )
    RegionFactory(code="us-east")
    RegionFactory(code="eu-west")
    RegionFactory(code="eu-central", status=RegionStatus.STANDBY)
    acme = create_organization(name="Acme", owner=UserFactory(), home_region_code="us-east", slug="acme")
    # A move that failed earlier: the evacuation runbook's back-out section is about it.
    OrganizationMove.objects.create(
        organization_id=acme.pk,
        organization_slug=acme.slug,
        source_region_code="us-east",
        target_region_code="eu-west",
        status=MoveStatus.FAILED,
        error="the target region did not answer",
    )


@pytest.mark.parametrize("runbook", REGION_RUNBOOKS)
def test_every_command_of_the_runbook_runs_as_a_dry_run(region, runbook):
    commands = runbook_commands(runbook)
    assert len(commands) >= 3, f"{runbook} shows too few commands to be followed"
    for argv in commands:
        name, *args = argv
        if name not in READ_ONLY and "--dry-run" not in args:
            args.append("--dry-run")
        out = io.StringIO()
        # when
        call_command(name, *args, stdout=out, stderr=io.StringIO())
        # then (call_command raised on any CommandError; a dry run printed what it would do)
        assert out.getvalue().strip(), f"`manage.py {shlex.join(argv)}` printed nothing"
    # and nothing was changed
    assert not DrillRecord.objects.exists()
    assert list(OrganizationMove.objects.values_list("status", flat=True)) == [MoveStatus.FAILED]
    assert Organization.objects.get(slug="acme").is_active


def test_the_runbooks_name_only_commands_that_exist():
    known = set(get_commands())
    for runbook in REGION_RUNBOOKS:
        for argv in runbook_commands(runbook):
            assert argv[0] in known, f"{runbook} names an unknown command {argv[0]}"


def test_the_runbook_index_lists_the_region_runbooks():
    index = (RUNBOOKS / "README.md").read_text()

    for runbook in REGION_RUNBOOKS:
        assert f"({runbook})" in index
