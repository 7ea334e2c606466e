"""Channels: a reviewed version is installed in the publisher's own organization before it is published."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from apps.core.exceptions import NotPermitted
from apps.marketplace.models import Installation, VersionChannel, VersionStatus
from apps.marketplace.services import install_channel_version
from tests.factories.accounts import MembershipFactory, OrganizationFactory
from tests.factories.marketplace import PublisherFactory, add_published_version, manifest, publish_extension

pytestmark = pytest.mark.django_db


@pytest.fixture
def passed_version(publisher):
    extension = publish_extension(publisher=publisher, slug="acme.tickets")
    return add_published_version(
        extension=extension, manifest_data=manifest(id="acme.tickets", version="1.1.0"), status=VersionStatus.PASSED
    )


@pytest.fixture
def owner_browser(owner) -> Client:
    client = Client()
    client.force_login(owner)
    return client


def test_a_developer_releases_a_passed_version_to_staging(developer_browser, passed_version):
    # when
    response = developer_browser.post(
        reverse("developers:version_channel", args=[passed_version.pk]), {"channel": "staging"}
    )
    # then
    assert response.status_code == 302
    passed_version.refresh_from_db()
    assert passed_version.channel == VersionChannel.STAGING


def test_an_unknown_channel_is_refused(developer_browser, passed_version):
    # when
    developer_browser.post(reverse("developers:version_channel", args=[passed_version.pk]), {"channel": "prod"})
    # then
    passed_version.refresh_from_db()
    assert passed_version.channel == ""


def test_a_rejected_version_cannot_go_to_a_channel(developer_browser, passed_version):
    # given
    passed_version.status = VersionStatus.REJECTED
    passed_version.save()
    # when
    developer_browser.post(reverse("developers:version_channel", args=[passed_version.pk]), {"channel": "dev"})
    # then
    passed_version.refresh_from_db()
    assert passed_version.channel == ""


def test_an_owner_installs_a_channel_version_in_their_own_organization(owner_browser, passed_version, organization):
    # given
    passed_version.channel = VersionChannel.DEV
    passed_version.save()
    # when
    response = owner_browser.post(
        reverse("developers:version_install", args=[passed_version.pk]), {"config": '{"region": "eu"}'}
    )
    # then
    assert response.status_code == 302
    installation = Installation.objects.get(organization=organization)
    assert installation.version == passed_version
    assert installation.status == "active"


def test_a_developer_without_install_rights_may_not_install(developer_browser, passed_version):
    # given
    passed_version.channel = VersionChannel.DEV
    passed_version.save()
    # when
    response = developer_browser.post(reverse("developers:version_install", args=[passed_version.pk]))
    # then
    assert response.status_code == 403
    assert not Installation.objects.exists()


def test_configuration_that_is_not_a_json_object_is_refused(owner_browser, passed_version):
    # given
    passed_version.channel = VersionChannel.DEV
    passed_version.save()
    # when
    for config in ("{not json", "[1, 2]"):
        response = owner_browser.post(
            reverse("developers:version_install", args=[passed_version.pk]), {"config": config}, follow=True
        )
        # then
        assert b"must be a JSON object" in response.content
    assert not Installation.objects.exists()


def test_configuration_the_schema_refuses_is_explained(owner_browser, passed_version):
    # given
    passed_version.channel = VersionChannel.DEV
    passed_version.save()
    # when
    response = owner_browser.post(
        reverse("developers:version_install", args=[passed_version.pk]), {"config": '{"region": "mars"}'}, follow=True
    )
    # then
    assert b"mars" in response.content
    assert not Installation.objects.exists()


def test_a_version_without_a_channel_is_not_installed(owner_browser, passed_version):
    # when
    owner_browser.post(reverse("developers:version_install", args=[passed_version.pk]))
    # then
    assert not Installation.objects.exists()


def test_another_organization_cannot_install_a_channel_version(passed_version):
    # given
    passed_version.channel = VersionChannel.DEV
    passed_version.save()
    stranger = MembershipFactory(organization=OrganizationFactory(), role="owner")
    # when / then
    with pytest.raises(NotPermitted):
        install_channel_version(organization=stranger.organization, actor=stranger.user, version=passed_version)


def test_another_publishers_version_cannot_be_released_or_installed(owner_browser, publisher):
    # given
    foreign = publish_extension(publisher=PublisherFactory(slug="rival"), slug="rival.thing").latest_version
    # when / then
    url = reverse("developers:version_channel", args=[foreign.pk])
    assert owner_browser.post(url, {"channel": "dev"}).status_code == 404
    assert owner_browser.post(reverse("developers:version_install", args=[foreign.pk])).status_code == 404
