"""Publisher endpoints: becoming a publisher, versions, analytics with CSV export, downloads."""

from __future__ import annotations

import hashlib
import io

import pytest
from django.urls import reverse

from apps.marketplace import services
from apps.marketplace.models import AnalyticsEvent, Extension, ExtensionVersion, Publisher
from tests.factories.marketplace import build_package, make_installation, manifest, publish_extension

pytestmark = pytest.mark.django_db


def test_an_organization_becomes_a_publisher_by_accepting_the_terms(developer_client, organization):
    url = reverse("api:publisher-list")

    refused = developer_client.post(url, {"slug": "acme", "name": "Acme"}, format="json")
    created = developer_client.post(url, {"slug": "acme", "name": "Acme", "accept_terms": True}, format="json")
    again = developer_client.post(url, {"slug": "acme2", "name": "Acme", "accept_terms": True}, format="json")

    assert refused.status_code == 422
    assert created.status_code == 201, created.content
    assert created.json()["verification"] == "unverified"
    assert again.status_code == 409
    assert Publisher.objects.get().organization == organization


def test_a_viewer_cannot_publish(api_client, viewer, publisher):
    api_client.force_authenticate(viewer)

    response = api_client.post(
        reverse("api:publisher-version-list"), {"package": io.BytesIO(build_package())}, format="multipart"
    )

    assert response.status_code == 403


def test_uploading_without_a_publisher_says_how_to_become_one(developer_client, run_on_commit):
    response = developer_client.post(
        reverse("api:publisher-version-list"), {"package": io.BytesIO(build_package())}, format="multipart"
    )

    assert response.status_code == 404
    assert "not a publisher yet" in response.json()["detail"]


def test_a_version_uploaded_without_auto_publish_waits_for_the_publish_call(developer_client, publisher, run_on_commit):
    with run_on_commit():
        created = developer_client.post(
            reverse("api:publisher-version-list"),
            {"package": io.BytesIO(build_package()), "auto_publish": "false"},
            format="multipart",
        ).json()
    assert created["status"] == "pending"
    detail = reverse("api:publisher-version-detail", kwargs={"pk": created["id"]})
    assert developer_client.get(detail).json()["status"] == "passed"

    published = developer_client.post(reverse("api:publisher-version-publish", kwargs={"pk": created["id"]}))

    assert published.json()["status"] == "published"
    assert (
        developer_client.post(reverse("api:publisher-version-publish", kwargs={"pk": created["id"]})).status_code == 409
    )


def test_a_published_version_can_be_yanked_with_a_reason(developer_client, publisher, developer, run_on_commit):
    with run_on_commit():
        version = services.upload_version(publisher=publisher, actor=developer, data=build_package())
    url = reverse("api:publisher-version-yank", kwargs={"pk": version.pk})

    assert developer_client.post(url, {}, format="json").status_code == 400
    response = developer_client.post(url, {"reason": "Broken on EU"}, format="json")

    assert response.json()["status"] == "yanked"
    assert Extension.objects.get().latest_version is None


def test_the_version_list_runs_a_constant_number_of_queries(
    developer_client, publisher, developer, run_on_commit, django_assert_max_num_queries
):
    with run_on_commit():
        for minor in range(6):
            services.upload_version(
                publisher=publisher, actor=developer, data=build_package(manifest(version=f"1.{minor}.0"))
            )

    with django_assert_max_num_queries(6):
        response = developer_client.get(reverse("api:publisher-version-list"))

    assert len(response.json()["results"]) == 6


def test_analytics_by_day_and_as_csv(developer_client, publisher, organization, other_organization):
    extension = publish_extension(publisher=publisher, slug="acme.tickets")
    services.record_analytics_event(extension=extension, kind="install", organization=other_organization)
    services.record_analytics_event(extension=extension, kind="install", organization=other_organization)
    services.record_analytics_event(extension=extension, kind="revenue", amount_cents=1500, currency="USD")
    services.record_analytics_event(extension=extension, kind="usage", quantity=7, idempotency_key="u-1")
    services.record_analytics_event(extension=extension, kind="usage", quantity=7, idempotency_key="u-1")
    url = reverse("api:publisher-extension-analytics", kwargs={"pk": extension.pk})

    rows = developer_client.get(url).json()
    csv_response = developer_client.get(url, {"export": "csv"})

    by_kind = {r["kind"]: r for r in rows}
    assert by_kind["install"]["quantity"] == 2
    assert by_kind["usage"]["quantity"] == 7
    assert (by_kind["revenue"]["amount_cents"], by_kind["revenue"]["currency"]) == (1500, "usd")
    assert csv_response["Content-Type"] == "text/csv"
    lines = csv_response.content.decode().splitlines()
    assert lines[0] == "day,kind,currency,quantity,amount_cents"
    assert len(lines) == 4
    assert AnalyticsEvent.objects.filter(kind="usage").count() == 1


def test_active_installs_by_version_and_region(developer_client, publisher, other_organization):
    extension = publish_extension(publisher=publisher, slug="acme.tickets")
    make_installation(organization=other_organization, extension=extension)

    body = developer_client.get(reverse("api:publisher-extension-installs", kwargs={"pk": extension.pk})).json()

    assert body == {"by_version": [{"version": "1.0.0", "count": 1}], "by_region": [{"region": "us-east", "count": 1}]}


def test_a_publisher_deprecates_an_extension(developer_client, publisher):
    extension = publish_extension(publisher=publisher, slug="acme.tickets")

    response = developer_client.patch(
        reverse("api:publisher-extension-detail", kwargs={"pk": extension.pk}), {"deprecated": True}, format="json"
    )

    assert response.json()["deprecated"] is True
    extension.refresh_from_db()
    assert extension.ranking_penalty == 0.5


def test_the_download_is_immutable_cacheable_and_counted(api_client, db):
    extension = publish_extension(slug="pub.tickets")
    version = extension.latest_version
    url = reverse("api:extension-version-download", kwargs={"pk": version.pk})

    response = api_client.get(url)
    cached = api_client.get(url, HTTP_IF_NONE_MATCH=f'"{version.sha256}"')

    assert response.status_code == 200
    assert hashlib.sha256(response.content).hexdigest() == version.sha256
    assert response["ETag"] == f'"{version.sha256}"'
    assert "immutable" in response["Cache-Control"]
    assert cached.status_code == 304
    assert ExtensionVersion.objects.get(pk=version.pk).downloads == 1
    assert Extension.objects.get(pk=extension.pk).downloads == 1


def test_unpublished_versions_cannot_be_downloaded(api_client, developer, publisher, run_on_commit):
    version = services.upload_version(publisher=publisher, actor=developer, data=build_package())

    assert api_client.get(reverse("api:extension-version-download", kwargs={"pk": version.pk})).status_code == 404


def test_the_manifest_schema_and_rules_are_public(api_client, db):
    schema = api_client.get(reverse("api:extension-manifest-schema")).json()
    rule_list = api_client.get(reverse("api:extension-rules")).json()

    assert schema["title"] == "NOFX extension manifest"
    assert {
        "id": "MKT-S004",
        "step": "scan",
        "title": "No path escapes the package",
        "outcome": "reject",
        "mode": "enforced",
    } in rule_list


def test_the_publisher_lists_run_a_constant_number_of_queries(
    developer_client, publisher, organization, other_organization, django_assert_max_num_queries
):
    for n in range(4):
        extension = publish_extension(publisher=publisher, slug=f"acme.e{n}")
        make_installation(organization=other_organization, extension=extension)
        services.submit_review(
            organization=other_organization,
            actor=make_owner(other_organization),
            extension=extension,
            rating=4,
        )

    with django_assert_max_num_queries(6):
        extensions = developer_client.get(reverse("api:publisher-extension-list"))
    with django_assert_max_num_queries(6):
        reviews = developer_client.get(reverse("api:publisher-review-list"))

    assert len(extensions.json()["results"]) == 4
    assert len(reviews.json()["results"]) == 4


def make_owner(organization):
    from tests.factories.accounts import MembershipFactory

    membership = MembershipFactory(organization=organization, role="owner")
    return membership.user
