"""Backups with checksums and retention, and restore drills that verify the restore and measure RPO and RTO.

These run on whichever database the suite uses: pg_dump/pg_restore on PostgreSQL, a file copy on SQLite.
"""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.regions.backups import BackupError, backup_root, create_backup, prune_backups, run_restore_drill
from apps.regions.models import BackupRecord, BackupStatus, DrillKind, DrillRecord
from apps.regions.residency import ResidencyViolation
from apps.security.audit_chain import event_hash
from apps.security.models import AuditChainHead, AuditEvent
from apps.security.services import record_audit_event
from tests.factories.accounts import MembershipFactory, TeamFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def backup_dir(settings, tmp_path):
    settings.REGION_BACKUP_DIR = str(tmp_path / "backups")
    return tmp_path / "backups"


@pytest.fixture
def some_data(organization):
    for _ in range(3):
        MembershipFactory(organization=organization)
    TeamFactory(organization=organization)
    for n in range(4):
        record_audit_event(actor=None, action="test.happened", organization=organization, data={"n": n})
    return organization


def _drill(**options) -> str:
    out = io.StringIO()
    call_command("restore_drill", stdout=out, **options)
    return out.getvalue()


def test_a_backup_is_recorded_with_its_checksum_size_and_row_counts(some_data):
    # when
    backup = create_backup()
    # then
    assert backup.status == BackupStatus.SUCCEEDED, backup.error
    path = backup_root() / backup.file_name
    assert path.exists()
    assert backup.size_bytes == path.stat().st_size
    assert len(backup.sha256) == 64
    assert backup.row_counts["accounts_membership"] == 3
    assert backup.row_counts["security_auditevent"] == 4
    assert backup.data_as_of is not None
    assert backup.location == "us-east"
    assert AuditEvent.objects.filter(action="regions.backup_created", target_id=str(backup.pk)).exists()


def test_backups_stay_in_the_region(settings, some_data):
    settings.REGION_BACKUP_LOCATION = "eu-west"

    with pytest.raises(ResidencyViolation, match="must stay in region us-east"):
        create_backup()

    assert not BackupRecord.objects.exists()


def test_retention_removes_the_oldest_files_and_keeps_their_records(some_data):
    # given three backups
    backups = [create_backup() for _ in range(3)]
    # when
    expired = prune_backups(keep=2)
    # then
    assert expired == 1
    oldest = BackupRecord.objects.get(pk=backups[0].pk)
    assert oldest.status == BackupStatus.EXPIRED
    assert not (backup_root() / oldest.file_name).exists()
    for kept in backups[1:]:
        assert (backup_root() / kept.file_name).exists()
    with pytest.raises(BackupError):
        prune_backups(keep=0)


def test_the_restore_drill_restores_the_newest_backup_verifies_it_and_prints_rpo_and_rto(some_data):
    # given an older backup and a newer one
    create_backup()
    newest = create_backup()
    # when
    output = _drill()
    # then
    drill = DrillRecord.objects.get(kind=DrillKind.RESTORE)
    assert drill.ok, drill.details
    assert drill.backup == newest
    assert drill.details["tables_checked"] == len(newest.row_counts)
    assert drill.details["audit_events_checked"] >= 4
    assert drill.details["scratch_database"] == "dropped"
    assert 0 <= drill.rpo_seconds < 60
    assert 0 < drill.rto_seconds < 60
    assert f"RPO: {drill.rpo_seconds:.3f} s" in output
    assert f"RTO: {drill.rto_seconds:.3f} s" in output
    assert "passed" in output
    assert AuditEvent.objects.filter(action="regions.restore_drill_completed", target_id=str(drill.pk)).exists()


def test_the_rpo_is_the_age_of_the_restored_data(some_data):
    backup = create_backup()
    BackupRecord.objects.filter(pk=backup.pk).update(data_as_of=timezone.now() - timedelta(hours=6))

    _drill()

    rpo = DrillRecord.objects.get().rpo_seconds
    assert 6 * 3600 <= rpo < 6 * 3600 + 60


def test_a_backup_whose_checksum_no_longer_matches_fails_the_drill(some_data):
    backup = create_backup()
    path = backup_root() / backup.file_name
    path.write_bytes(path.read_bytes()[:-10] + b"corrupted!")

    with pytest.raises(CommandError, match="SHA-256"):
        _drill()

    drill = DrillRecord.objects.get()
    assert not drill.ok
    assert AuditEvent.objects.filter(action="regions.restore_drill_failed").exists()


def test_a_missing_backup_file_fails_the_drill(some_data):
    backup = create_backup()
    (backup_root() / backup.file_name).unlink()

    outcome = run_restore_drill(write=lambda line: None)

    assert not outcome.drill.ok
    assert "missing" in outcome.problems[0]


def test_a_restore_of_a_tampered_audit_log_fails_the_drill(some_data):
    # given an audit event forged behind the service's back before the backup
    head = AuditChainHead.objects.get(chain=str(some_data.pk))
    forged = {
        "chain": head.chain,
        "seq": head.seq + 1,
        "organization_id": some_data.pk,
        "occurred_at": timezone.now(),
        "actor_type": "system",
        "actor_id": "",
        "action": "test.forged",
        "target_type": "",
        "target_id": "",
        "request_id": "",
        "data": {},
        "prev_hash": "f" * 64,
    }
    AuditEvent.objects.create(**forged, hash=event_hash(forged))
    create_backup()
    # when
    outcome = run_restore_drill(write=lambda line: None)
    # then
    assert not outcome.drill.ok
    assert any("prev_hash" in problem for problem in outcome.problems)


def test_the_drill_needs_a_backup():
    with pytest.raises(CommandError, match="no successful backup"):
        _drill()


def test_the_backup_command_prints_the_checksum_and_applies_retention(some_data):
    out = io.StringIO()

    call_command("backup_database", keep=1, stdout=out)
    call_command("backup_database", keep=1, stdout=out)

    [kept] = BackupRecord.objects.filter(status=BackupStatus.SUCCEEDED)
    assert kept.sha256 in out.getvalue()
    assert "1 old backup(s) expired" in out.getvalue()
