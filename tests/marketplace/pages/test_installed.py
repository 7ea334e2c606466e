from __future__ import annotations

from typing import Any

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Organization
from apps.marketplace.models import AnalyticsEvent, Extension, Installation, InstallationStatus
from tests.factories.marketplace import add_published_version, make_installation, manifest
from tests.marketplace.pages.conftest import INVALID, build_catalog

INSTALLED = "/marketplace/installed/"


def _detail(installation: Installation) -> str:
    return reverse("marketplace:installation", args=[installation.pk])


def _pending_update(installation: Installation) -> Installation:
    """A 2.0.0 that also wants to see workflows waits for consent."""
    extension = installation.extension
    data = manifest(
        id=extension.slug,
        version="2.0.0",
        permissions={"scopes": ["connectors.view", "workflows.view"], "egress": ["api.acme.io"], "dataClasses": []},
    )
    installation.pending_version = add_published_version(extension=extension, manifest_data=data)
    installation.save(update_fields=["pending_version"])
    return installation


def test_the_list_shows_the_organizations_installations_only(
    extension: Extension, organization: Organization, other_organization: Organization, viewer_client_of_org: Client
) -> None:
    # given one installation here and one in another organization
    mine = make_installation(organization=organization, extension=extension, plan="free")
    foreign = make_installation(organization=other_organization, extension=build_catalog(1)[0])

    # when a viewer opens the list
    response = viewer_client_of_org.get(INSTALLED)

    # then only their organization's installation is listed, with status and version
    body = response.content.decode()
    assert response.status_code == 200
    assert INVALID not in body
    assert _detail(mine) in body
    assert _detail(foreign) not in body
    assert "Active" in body
    assert "1.0.0" in body


def test_uninstalled_extensions_are_listed_only_when_asked_for(
    extension: Extension, organization: Organization, viewer_client_of_org: Client
) -> None:
    # given an uninstalled extension
    gone = make_installation(organization=organization, extension=extension, status=InstallationStatus.UNINSTALLED)

    # then it is not in the default list, but is under its status
    assert _detail(gone) not in viewer_client_of_org.get(INSTALLED).content.decode()
    assert _detail(gone) in viewer_client_of_org.get(INSTALLED, {"status": "uninstalled"}).content.decode()


def test_a_bad_status_filter_is_explained(viewer_client_of_org: Client) -> None:
    response = viewer_client_of_org.get(INSTALLED, {"status": "exploded"})

    assert response.status_code == 400
    assert "That filter is not valid." in response.content.decode()


def test_an_empty_organization_is_pointed_to_the_marketplace(viewer_client_of_org: Client) -> None:
    body = viewer_client_of_org.get(INSTALLED).content.decode()

    assert "Nothing installed" in body


def test_someone_outside_any_organization_is_refused(client: Client, user: Any) -> None:
    client.force_login(user)

    assert client.get(INSTALLED).status_code == 403


def test_the_list_queries_do_not_grow_with_installations(
    organization: Organization, viewer_client_of_org: Client, django_assert_max_num_queries: Any
) -> None:
    # given many installations, some with pending updates
    for extension in build_catalog(12):
        installation = make_installation(organization=organization, extension=extension)
        installation.pending_version = extension.latest_version
        installation.save(update_fields=["pending_version"])

    with django_assert_max_num_queries(6):
        response = viewer_client_of_org.get(INSTALLED)
    assert response.content.decode().count("needs consent") == 12


def test_the_detail_shows_status_version_configuration_usage_and_grants(
    extension: Extension, organization: Organization, viewer_client_of_org: Client
) -> None:
    # given an installation with configuration, a stored secret and reported usage
    installation = make_installation(
        organization=organization, extension=extension, config={"region": "eu"}, secret_config={"apiKey": "k"}
    )
    for quantity in (5, 7):
        AnalyticsEvent.objects.create(
            extension=extension, organization=organization, kind="usage", day=timezone.localdate(), quantity=quantity
        )
    AnalyticsEvent.objects.create(
        extension=extension, organization=None, kind="usage", day=timezone.localdate(), quantity=1000
    )

    # when a viewer opens it
    body = viewer_client_of_org.get(_detail(installation)).content.decode()

    # then they see it all, never the secret, only this organization's usage, and no buttons to change it
    assert INVALID not in body
    assert "eu" in body
    assert "Set (hidden)" in body
    assert ">12<" in body
    assert "1000" not in body
    assert "See your connectors and their health." in body
    assert "Uninstall" not in body


def test_another_organizations_installation_is_not_found(
    extension: Extension, other_organization: Organization, admin_client_of_org: Client
) -> None:
    # given an installation of another organization
    foreign = make_installation(organization=other_organization, extension=extension)

    # then none of its pages or actions exist for this admin
    assert admin_client_of_org.get(_detail(foreign)).status_code == 404
    assert admin_client_of_org.get(reverse("marketplace:configure", args=[foreign.pk])).status_code == 404
    for action in ("disable", "enable", "uninstall", "approve_update"):
        assert admin_client_of_org.post(reverse(f"marketplace:{action}", args=[foreign.pk])).status_code == 404
    foreign.refresh_from_db()
    assert foreign.status == InstallationStatus.ACTIVE


def test_an_admin_disables_enables_and_uninstalls(
    extension: Extension, organization: Organization, admin_client_of_org: Client
) -> None:
    installation = make_installation(organization=organization, extension=extension, plan="free")
    Extension.objects.filter(pk=extension.pk).update(active_installs=1)

    # when the admin disables it
    admin_client_of_org.post(reverse("marketplace:disable", args=[installation.pk]), {"reason": "Pausing"})
    installation.refresh_from_db()
    assert installation.status == InstallationStatus.DISABLED
    assert installation.status_reason == "Pausing"

    # and enables it again
    admin_client_of_org.post(reverse("marketplace:enable", args=[installation.pk]))
    installation.refresh_from_db()
    assert installation.status == InstallationStatus.ACTIVE

    # and uninstalls it
    response = admin_client_of_org.post(reverse("marketplace:uninstall", args=[installation.pk]), follow=True)
    installation.refresh_from_db()
    assert installation.status == InstallationStatus.UNINSTALLED
    assert "is uninstalled" in response.content.decode()


def test_enabling_an_active_installation_is_refused_with_a_message(
    extension: Extension, organization: Organization, admin_client_of_org: Client
) -> None:
    installation = make_installation(organization=organization, extension=extension)

    response = admin_client_of_org.post(reverse("marketplace:enable", args=[installation.pk]), follow=True)

    assert "Only a disabled installation can be enabled." in response.content.decode()


def test_a_viewer_cannot_change_an_installation(
    extension: Extension, organization: Organization, viewer_client_of_org: Client
) -> None:
    installation = make_installation(organization=organization, extension=extension)

    assert viewer_client_of_org.post(reverse("marketplace:uninstall", args=[installation.pk])).status_code == 403
    assert viewer_client_of_org.get(reverse("marketplace:configure", args=[installation.pk])).status_code == 403
    installation.refresh_from_db()
    assert installation.status == InstallationStatus.ACTIVE


def test_an_admin_approves_an_update_after_reading_what_it_adds(
    extension: Extension, organization: Organization, admin_client_of_org: Client
) -> None:
    # given an update that asks to see workflows
    installation = _pending_update(make_installation(organization=organization, extension=extension, plan="free"))

    # when the admin opens the installation, they see only what is new
    body = admin_client_of_org.get(_detail(installation)).content.decode()
    assert "Update 2.0.0 is waiting for your consent" in body
    update_box = body.split('id="update-title"', 1)[1].split("</section>", 1)[0]
    assert "See your integration workflows and their runs." in update_box
    assert "See your connectors and their health." not in update_box

    # and consents
    admin_client_of_org.post(
        reverse("marketplace:approve_update", args=[installation.pk]), {"version": "2.0.0", "accept": "on"}
    )

    # then the installation runs 2.0.0 with the new grant
    installation.refresh_from_db()
    assert installation.version.version == "2.0.0"
    assert installation.pending_version is None
    assert "workflows.view" in installation.granted_permissions["scopes"]


def test_an_update_is_not_applied_without_the_consent_box(
    extension: Extension, organization: Organization, admin_client_of_org: Client
) -> None:
    installation = _pending_update(make_installation(organization=organization, extension=extension))

    response = admin_client_of_org.post(
        reverse("marketplace:approve_update", args=[installation.pk]), {"version": "2.0.0"}, follow=True
    )

    installation.refresh_from_db()
    assert installation.version.version == "1.0.0"
    assert "Tick the box to consent to the new permissions." in response.content.decode()


def test_consent_for_a_different_pending_version_is_refused(
    extension: Extension, organization: Organization, admin_client_of_org: Client
) -> None:
    installation = _pending_update(make_installation(organization=organization, extension=extension))

    admin_client_of_org.post(
        reverse("marketplace:approve_update", args=[installation.pk]), {"version": "1.5.0", "accept": "on"}
    )

    installation.refresh_from_db()
    assert installation.version.version == "1.0.0"


def test_the_configuration_is_changed_with_errors_next_to_fields(
    extension: Extension, organization: Organization, admin_client_of_org: Client
) -> None:
    installation = make_installation(
        organization=organization, extension=extension, config={"region": "eu"}, secret_config={"apiKey": "old"}
    )
    url = reverse("marketplace:configure", args=[installation.pk])

    # when the form is opened, the secret is not shown back
    form_page = admin_client_of_org.get(url).content.decode()
    assert INVALID not in form_page
    assert "old" not in form_page
    assert "leave this empty to keep it" in form_page

    # a bad value is refused next to its field
    bad = admin_client_of_org.post(url, {"config-region": "mars"})
    assert bad.status_code == 400
    assert "Select a valid choice" in bad.content.decode()

    # and a good one is saved, keeping the secret
    admin_client_of_org.post(url, {"config-region": "us"})
    installation.refresh_from_db()
    assert installation.config == {"region": "us"}
    assert installation.secret_config == {"apiKey": "old"}


def test_the_detail_queries_are_bounded(
    extension: Extension, organization: Organization, admin_client_of_org: Client, django_assert_max_num_queries: Any
) -> None:
    installation = _pending_update(make_installation(organization=organization, extension=extension))
    for day in range(20):
        AnalyticsEvent.objects.create(
            extension=extension,
            organization=organization,
            kind="usage",
            day=timezone.localdate() - timezone.timedelta(days=day),
        )

    with django_assert_max_num_queries(10):
        assert admin_client_of_org.get(_detail(installation)).status_code == 200


def test_the_configure_page_queries_are_bounded(
    extension: Extension, organization: Organization, admin_client_of_org: Client, django_assert_max_num_queries: Any
) -> None:
    installation = make_installation(organization=organization, extension=extension, config={"region": "eu"})

    with django_assert_max_num_queries(6):
        assert admin_client_of_org.get(reverse("marketplace:configure", args=[installation.pk])).status_code == 200
