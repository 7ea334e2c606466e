"""Organizations are placed in an active region, and the placement reaches the directory and its outbox atomically."""

from __future__ import annotations

import pytest
from django.db import transaction

from apps.accounts.models import Organization
from apps.accounts.services import create_organization
from apps.core.exceptions import BusinessRuleViolation
from apps.regions.models import DirectoryEntry, DirectoryKind, OutboxDelivery, OutboxMessage, Region, RegionStatus
from apps.regions.services import publish_directory_entry, register_region, set_region_status
from apps.security.models import AuditEvent
from tests.factories.regions import RegionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def regions():
    return {
        "us-east": RegionFactory(code="us-east"),
        "eu-west": RegionFactory(code="eu-west"),
        "ap-southeast": RegionFactory(code="ap-southeast", status=RegionStatus.STANDBY),
    }


def test_creating_an_organization_publishes_its_home_region_for_every_peer(regions, user):
    # when
    organization = create_organization(name="Globex", owner=user, home_region_code="eu-west")
    # then
    entry = DirectoryEntry.objects.get(kind=DirectoryKind.ORGANIZATION, key=str(organization.pk))
    assert (entry.slug, entry.region_code, entry.origin_region_code) == ("globex", "eu-west", "us-east")
    message = OutboxMessage.objects.get(key=str(organization.pk))
    assert message.version == entry.version
    assert message.payload["region_code"] == "eu-west"
    peers = set(OutboxDelivery.objects.filter(message=message).values_list("region__code", flat=True))
    # Every other region, running or not, is owed the change; this region (us-east) is not.
    assert peers == {"eu-west", "ap-southeast"}


def test_the_placement_rolls_back_with_the_organization(regions, user):
    # when the transaction that creates the organization fails later on
    def create_then_fail() -> None:
        with transaction.atomic():
            create_organization(name="Doomed", owner=user, home_region_code="eu-west")
            raise RuntimeError("a later step failed")

    with pytest.raises(RuntimeError):
        create_then_fail()
    # then neither the organization nor its directory entry nor its outbox message exists
    assert not Organization.objects.filter(slug="doomed").exists()
    assert not DirectoryEntry.objects.filter(slug="doomed").exists()
    assert not OutboxMessage.objects.filter(kind=DirectoryKind.ORGANIZATION).exists()


@pytest.mark.parametrize("code", ["ap-southeast", "ca-central", ""])
def test_an_organization_is_refused_a_region_that_does_not_take_organizations(regions, user, code):
    with pytest.raises(BusinessRuleViolation) as refused:
        create_organization(name="Initech", owner=user, home_region_code=code)

    assert refused.value.code == "region_not_available"
    assert refused.value.field == "home_region_code"
    assert not Organization.objects.exists()


def test_with_no_active_region_the_refusal_says_so(user):
    with pytest.raises(BusinessRuleViolation, match="none is active yet"):
        create_organization(name="Initech", owner=user, home_region_code="us-east")


def test_registering_a_region_is_audited_replicated_and_idempotent(regions):
    # when
    region = register_region(
        code="ca-central", name="Canada Central", public_url="https://ca.nofx.example/", certifications=["SOC 2", " "]
    )
    version = region.directory_version
    again = register_region(code="ca-central", name="Canada Central", public_url="https://ca.nofx.example")
    # then
    assert region.public_url == "https://ca.nofx.example"
    assert region.certifications == ["SOC 2"]
    assert again.directory_version == version
    assert AuditEvent.objects.filter(action="regions.region_registered", target_id=str(region.pk)).count() == 1
    assert not AuditEvent.objects.filter(action="regions.region_updated").exists()
    assert OutboxMessage.objects.filter(kind="region", key="ca-central").count() == 1


def test_a_new_peer_is_owed_the_whole_directory(regions, user, django_capture_on_commit_callbacks):
    # given
    create_organization(name="Globex", owner=user, home_region_code="eu-west")
    # when
    with django_capture_on_commit_callbacks(execute=True):
        register_region(code="ca-central", name="Canada Central", public_url="https://ca.nofx.example")
    # then
    owed = OutboxDelivery.objects.filter(region__code="ca-central").values_list("message__kind", "message__key")
    assert ("organization", str(Organization.objects.get().pk)) in set(owed)
    assert {key for kind, key in owed if kind == "region"} == set(Region.objects.values_list("code", flat=True))


@pytest.mark.parametrize(
    ("field", "value"),
    [("code", "Europe"), ("public_url", "not a url"), ("name", "")],
)
def test_registering_a_region_with_bad_fields_is_refused(field, value):
    from django.core.exceptions import ValidationError

    values = {"code": "eu-west", "name": "EU West", "public_url": "https://eu.nofx.example"} | {field: value}
    with pytest.raises(ValidationError) as refused:
        register_region(**values)

    assert field in refused.value.message_dict
    assert not Region.objects.exists()


def test_an_unknown_status_is_refused(regions):
    with pytest.raises(BusinessRuleViolation, match="Unknown region status"):
        set_region_status(region=regions["eu-west"], status="on fire")
    with pytest.raises(BusinessRuleViolation, match="Unknown region status"):
        register_region(code="eu-west", name="EU", public_url="https://eu.nofx.example", status="on fire")


def test_marking_a_region_failed_is_audited_and_replicated(regions):
    # when
    set_region_status(region=regions["eu-west"], status=RegionStatus.FAILED, reason="database lost")
    set_region_status(region=regions["eu-west"], status=RegionStatus.FAILED, reason="database lost")
    # then
    region = Region.objects.get(code="eu-west")
    assert (region.status, region.status_reason) == ("failed", "database lost")
    assert AuditEvent.objects.filter(action="regions.region_status_changed").count() == 1
    message = OutboxMessage.objects.get(kind="region", key="eu-west")
    assert message.payload["status"] == "failed"


def test_publishing_outside_a_transaction_still_writes_the_outbox_atomically(regions):
    entry = publish_directory_entry(kind="publisher", key="p-1", slug="acme-labs", region_code="us-east")

    assert OutboxMessage.objects.get(kind="publisher").version == entry.version


def test_an_unknown_directory_kind_is_refused(regions):
    with pytest.raises(BusinessRuleViolation, match="directory kind"):
        publish_directory_entry(kind="gossip", key="1", region_code="us-east")
