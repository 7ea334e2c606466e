"""The operators' pages load within a bounded number of queries, and their actions go through services."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.marketplace import services
from apps.marketplace.models import ExtensionVersion, RuleSetting, VersionStatus
from apps.security.models import AuditEvent
from tests.factories.accounts import UserFactory
from tests.factories.marketplace import PublisherFactory, build_package, make_installation, publish_extension

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.mark.parametrize(
    "model",
    [
        "publisher",
        "category",
        "extension",
        "extensionversion",
        "rulesetting",
        "installation",
        "webhookdelivery",
        "review",
        "reviewreport",
        "analyticsevent",
    ],
)
def test_every_marketplace_changelist_loads(staff_client, organization, model, django_assert_max_num_queries):
    extension = publish_extension(slug="pub.tickets")
    make_installation(organization=organization, extension=extension)

    with django_assert_max_num_queries(20):
        response = staff_client.get(reverse(f"admin:marketplace_{model}_changelist"))

    assert response.status_code == 200


def test_the_moderation_queue_releases_a_quarantined_version(staff_client, developer, publisher, run_on_commit):
    publish_extension(publisher=PublisherFactory(slug="atlassian"), slug="atlassian.tickets")
    with run_on_commit():
        version = services.upload_version(publisher=publisher, actor=developer, data=build_package())
    assert ExtensionVersion.objects.get(pk=version.pk).status == VersionStatus.QUARANTINED
    queue = staff_client.get(reverse("admin:marketplace_extensionversion_changelist"), {"queue": "quarantined"})
    assert "acme.tickets" in queue.content.decode()

    staff_client.post(
        reverse("admin:marketplace_extensionversion_changelist"),
        {"action": "release", "_selected_action": [str(version.pk)]},
    )

    assert ExtensionVersion.objects.get(pk=version.pk).status == VersionStatus.PUBLISHED
    assert AuditEvent.objects.filter(action="marketplace.quarantine_released").exists()


def test_a_rule_switch_saved_in_admin_is_audited(staff_client, run_on_commit):
    with run_on_commit():
        response = staff_client.post(
            reverse("admin:marketplace_rulesetting_add"), {"rule_id": "MKT-S008", "mode": "enforced", "note": "tighten"}
        )

    assert response.status_code == 302
    assert RuleSetting.objects.get().mode == "enforced"
    assert AuditEvent.objects.filter(action="marketplace.rule_mode_changed").count() == 1


def test_delisting_in_admin_hides_the_extension_and_is_audited_and_relisting_undoes_it(staff_client):
    # given a listed extension
    extension = publish_extension(slug="acme.tickets")
    changelist = reverse("admin:marketplace_extension_changelist")
    # when an operator delists it
    staff_client.post(changelist, {"action": "delist", "_selected_action": [str(extension.pk)]})
    # then it is hidden from the catalog, and the decision is in the audit log
    extension.refresh_from_db()
    assert extension.is_delisted
    assert AuditEvent.objects.filter(action="marketplace.extension_delisted", target_id=str(extension.pk)).exists()
    # when it is listed again
    staff_client.post(changelist, {"action": "relist", "_selected_action": [str(extension.pk)]})
    # then
    extension.refresh_from_db()
    assert not extension.is_delisted
    assert AuditEvent.objects.filter(action="marketplace.extension_relisted").exists()
