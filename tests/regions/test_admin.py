"""The operators' screens for regions call the region services."""

from __future__ import annotations

import pytest

from apps.regions.models import BackupRecord, BackupStatus, OutboxDelivery, Region, RegionStatus, ResidencyRule
from apps.security.models import AuditEvent
from tests.factories.accounts import UserFactory
from tests.factories.regions import BackupRecordFactory, RegionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator():
    return UserFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def regions():
    return [RegionFactory(code="us-east"), RegionFactory(code="eu-west")]


@pytest.mark.parametrize(
    "path",
    [
        "/admin/regions/region/",
        "/admin/regions/residencyrule/",
        "/admin/regions/directoryentry/",
        "/admin/regions/outboxmessage/",
        "/admin/regions/outboxdelivery/",
        "/admin/regions/backuprecord/",
        "/admin/regions/drillrecord/",
        "/admin/regions/regionhealthsample/",
        "/admin/regions/organizationmove/",
    ],
)
def test_every_region_list_opens_in_few_queries(staff_client, regions, path, django_assert_max_num_queries):
    BackupRecordFactory.create_batch(3)
    with django_assert_max_num_queries(12):
        response = staff_client.get(path)

    assert response.status_code == 200


def test_marking_a_region_failed_from_the_list_is_audited_and_replicated(staff_client, regions, operator):
    response = staff_client.post(
        "/admin/regions/region/", {"action": "mark_failed", "_selected_action": [str(regions[1].pk)]}
    )

    assert response.status_code == 302
    assert Region.objects.get(code="eu-west").status == RegionStatus.FAILED
    event = AuditEvent.objects.get(action="regions.region_status_changed")
    assert event.actor_id == str(operator.pk)
    assert OutboxDelivery.objects.filter(message__key="eu-west", region__code="eu-west").count() == 1


def test_a_rule_added_in_the_admin_goes_through_the_service(staff_client, regions):
    response = staff_client.post(
        "/admin/regions/residencyrule/add/",
        {"region": str(regions[1].pk), "effect": "allow", "location_pattern": "EU-*", "reason": "GDPR"},
    )

    assert response.status_code == 302
    rule = ResidencyRule.objects.get()
    assert rule.location_pattern == "eu-*"
    assert AuditEvent.objects.filter(action="regions.residency_rule_added", target_id=str(rule.pk)).exists()


@pytest.mark.django_db(transaction=True)
def test_the_backup_button_takes_a_backup(client, settings, tmp_path):
    settings.REGION_BACKUP_DIR = str(tmp_path)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    response = client.post("/admin/regions/backuprecord/backup-now/")

    assert response.status_code == 302
    backup = BackupRecord.objects.get()
    assert backup.status == BackupStatus.SUCCEEDED
    assert (tmp_path / "us-east" / backup.file_name).exists()
