"""Uploading packages, following the review live, publishing and withdrawing versions."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.marketplace.models import ExtensionVersion, VersionStatus
from tests.factories.marketplace import PublisherFactory, build_package, manifest, publish_extension

pytestmark = pytest.mark.django_db

UPLOAD = "/developers/upload/"
SECRET_FILE = {"notes.txt": "aws_secret_access_key = AKIAIOSFODNN7EXAMPLE/wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}


def _zip(data: bytes, name: str = "acme-tickets.zip") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/zip")


def upload(client, data: bytes, run_on_commit, *, auto_publish: bool = True, name: str = "acme-tickets.zip"):
    payload = {"package": _zip(data, name)}
    if auto_publish:
        payload["auto_publish"] = "on"
    with run_on_commit():
        return client.post(UPLOAD, payload)


def test_the_upload_page_has_a_labelled_file_input_that_works_without_script(developer_browser, publisher):
    # when
    response = developer_browser.get(UPLOAD)
    # then
    assert response.status_code == 200
    body = response.content.decode()
    assert 'enctype="multipart/form-data"' in body
    assert 'type="file"' in body
    assert 'for="id_package"' in body
    assert "data-dropzone" in body


def test_a_clean_package_is_reviewed_and_published(developer_browser, publisher, run_on_commit):
    # when
    response = upload(developer_browser, build_package(), run_on_commit)
    # then
    version = ExtensionVersion.objects.get(extension__slug="acme.tickets")
    assert response.status_code == 302
    assert response["Location"] == reverse("developers:version", args=[version.pk])
    assert version.status == VersionStatus.PUBLISHED
    page = developer_browser.get(response["Location"])
    assert b"Published." in page.content


def test_a_package_that_breaks_a_rule_shows_the_finding_and_how_to_fix_it(developer_browser, publisher, run_on_commit):
    # given a package with a committed secret
    data = build_package(files=SECRET_FILE)
    # when
    response = upload(developer_browser, data, run_on_commit)
    page = developer_browser.get(response["Location"])
    # then
    version = ExtensionVersion.objects.get(extension__slug="acme.tickets")
    assert version.status == VersionStatus.REJECTED
    body = page.content.decode()
    assert "MKT-S006" in body
    assert "notes.txt" in body
    assert "How to fix:" in body
    assert "blocks publishing" in body


def test_a_version_held_back_from_auto_publishing_is_published_on_request(developer_browser, publisher, run_on_commit):
    # given
    response = upload(developer_browser, build_package(), run_on_commit, auto_publish=False)
    version = ExtensionVersion.objects.get(extension__slug="acme.tickets")
    assert version.status == VersionStatus.PASSED
    assert b"Publish 1.0.0" in developer_browser.get(response["Location"]).content
    # when
    published = developer_browser.post(reverse("developers:version_publish", args=[version.pk]))
    # then
    assert published.status_code == 302
    version.refresh_from_db()
    assert version.status == VersionStatus.PUBLISHED


def test_publishing_a_rejected_version_does_nothing(developer_browser, publisher, run_on_commit):
    # given
    upload(developer_browser, build_package(files=SECRET_FILE), run_on_commit, auto_publish=False)
    version = ExtensionVersion.objects.get(extension__slug="acme.tickets")
    # when
    developer_browser.post(reverse("developers:version_publish", args=[version.pk]))
    # then
    version.refresh_from_db()
    assert version.status == VersionStatus.REJECTED


def test_the_status_fragment_polls_while_the_pipeline_works_and_stops_after(developer_browser, publisher):
    # given a version whose review has not started (its on-commit chain never ran)
    developer_browser.post(UPLOAD, {"package": _zip(build_package())})
    version = ExtensionVersion.objects.get(extension__slug="acme.tickets")
    status_url = reverse("developers:version_status", args=[version.pk])
    # when
    pending = developer_browser.get(status_url)
    # then
    assert pending.status_code == 200
    assert b'hx-trigger="every 2s"' in pending.content
    assert b"<html" not in pending.content
    # and when the review is over
    ExtensionVersion.objects.filter(pk=version.pk).update(status=VersionStatus.REJECTED)
    assert b"hx-trigger" not in developer_browser.get(status_url).content


def test_it_refuses_a_file_that_is_not_a_zip(developer_browser, publisher):
    # when
    response = developer_browser.post(UPLOAD, {"package": _zip(b"just text", "notes.zip")})
    # then
    assert response.status_code == 422
    assert b"MKT-V001" in response.content
    assert not ExtensionVersion.objects.exists()


def test_it_refuses_a_file_without_the_zip_extension(developer_browser, publisher):
    # when
    response = developer_browser.post(UPLOAD, {"package": _zip(build_package(), "package.tar")})
    # then
    assert response.status_code == 400
    assert b"Upload a .zip archive." in response.content


def test_it_refuses_an_oversized_package_before_reading_it(developer_browser, publisher, settings):
    # given
    settings.MARKETPLACE_MAX_PACKAGE_BYTES = 100
    # when
    response = developer_browser.post(UPLOAD, {"package": _zip(build_package())})
    # then
    assert response.status_code == 400
    assert b"the limit is 100 bytes" in response.content


def test_it_refuses_an_upload_without_a_file(developer_browser, publisher):
    # when
    response = developer_browser.post(UPLOAD, {})
    # then
    assert response.status_code == 400
    assert not ExtensionVersion.objects.exists()


def test_it_refuses_a_manifest_id_of_another_publisher(developer_browser, publisher):
    # when
    response = developer_browser.post(UPLOAD, {"package": _zip(build_package(manifest(id="other.tickets")))})
    # then the form is shown again with the service's reason
    assert response.status_code == 403
    assert b"start with" in response.content


def test_it_refuses_a_broken_manifest_with_the_rule_that_explains_it(developer_browser, publisher):
    # when
    response = developer_browser.post(UPLOAD, {"package": _zip(build_package("{not json"))})
    # then
    assert response.status_code == 422
    assert b"MKT-V003" in response.content


def test_a_viewer_may_not_upload(viewer_browser, publisher):
    # when
    response = viewer_browser.post(UPLOAD, {"package": _zip(build_package())})
    # then
    assert response.status_code == 403
    assert not ExtensionVersion.objects.exists()


def test_another_publishers_version_is_not_found(developer_browser, publisher):
    # given
    foreign = publish_extension(publisher=PublisherFactory(slug="rival"), slug="rival.thing")
    version = foreign.latest_version
    # when / then
    for name in ("developers:version", "developers:version_status"):
        assert developer_browser.get(reverse(name, args=[version.pk])).status_code == 404
    assert developer_browser.post(reverse("developers:version_publish", args=[version.pk])).status_code == 404
    assert developer_browser.post(reverse("developers:version_yank", args=[version.pk])).status_code == 404


def test_a_finding_message_with_markup_is_escaped(developer_browser, publisher):
    # given
    extension = publish_extension(publisher=publisher, slug="acme.tickets")
    version = extension.latest_version
    version.findings = [
        {"rule_id": "MKT-V004", "message": "<img src=x onerror=alert(1)>", "file": "<b>x</b>", "severity": "error"}
    ]
    version.save()
    # when
    response = developer_browser.get(reverse("developers:version", args=[version.pk]))
    # then
    assert b"<img src=x" not in response.content
    assert b"&lt;img src=x onerror=alert(1)&gt;" in response.content


def test_a_publisher_withdraws_a_published_version_with_a_reason(developer_browser, publisher):
    # given
    version = publish_extension(publisher=publisher, slug="acme.tickets").latest_version
    # when
    response = developer_browser.post(
        reverse("developers:version_yank", args=[version.pk]), {"reason": "A bug loses records."}
    )
    # then
    assert response.status_code == 302
    version.refresh_from_db()
    assert version.status == VersionStatus.YANKED


def test_the_version_page_keeps_to_a_fixed_number_of_queries(
    developer_browser, publisher, django_assert_max_num_queries
):
    # given
    version = publish_extension(publisher=publisher, slug="acme.tickets").latest_version
    version.findings = [
        {"rule_id": f"MKT-S0{n:02d}", "message": "m", "severity": "warning", "step": "scan"} for n in range(1, 10)
    ]
    version.save()
    # when / then
    with django_assert_max_num_queries(20):
        assert developer_browser.get(reverse("developers:version", args=[version.pk])).status_code == 200
    with django_assert_max_num_queries(15):
        assert developer_browser.get(reverse("developers:version_status", args=[version.pk])).status_code == 200


def test_the_upload_page_keeps_to_a_fixed_number_of_queries(
    developer_browser, publisher, django_assert_max_num_queries
):
    # given
    for n in range(3):
        publish_extension(publisher=publisher, slug=f"acme.ext-{n}")
    # when / then
    with django_assert_max_num_queries(15):
        assert developer_browser.get(UPLOAD).status_code == 200


def test_the_finding_list_is_built_from_stored_json(developer_browser, publisher):
    # given a finding stored without optional keys, as older rule engines wrote them
    version = publish_extension(publisher=publisher, slug="acme.tickets").latest_version
    version.findings = [{"rule_id": "MKT-S010", "message": json.dumps({"k": "v"})}]
    version.save()
    # when
    response = developer_browser.get(reverse("developers:version", args=[version.pk]))
    # then
    assert response.status_code == 200
    assert b"Name the exact hosts" in response.content
