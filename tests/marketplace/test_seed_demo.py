import pytest
from django.core.management import call_command

from apps.marketplace.models import Extension, VersionStatus
from tests.factories.accounts import MembershipFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


def test_the_demo_catalog_is_published_through_the_pipeline_once(capsys):
    organization = OrganizationFactory(slug="acme")
    MembershipFactory(organization=organization, role="owner")

    call_command("seed_marketplace_demo")
    call_command("seed_marketplace_demo")

    listed = Extension.objects.listed()
    assert listed.count() == 3
    assert all(e.latest_version.status == VersionStatus.PUBLISHED and e.is_certified for e in listed)
    assert capsys.readouterr().out.count(": published") == 3
