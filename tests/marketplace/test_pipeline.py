"""The publish pipeline end to end: upload -> validate -> scan -> test -> certify -> publish, and every rule a
developer can trip, read back through the API exactly as the developer sees it."""

from __future__ import annotations

import io
import json

import pytest
from django.urls import reverse

from apps.marketplace import signing
from apps.marketplace.models import Extension, ExtensionVersion, RuleMode, VersionStatus
from apps.marketplace.services import decide_quarantine, rescan_published_versions, set_rule_mode, upload_version
from apps.security.models import AuditEvent
from tests.factories.marketplace import (
    WORKFLOW,
    PublisherFactory,
    build_package,
    manifest,
    publish_extension,
)

pytestmark = pytest.mark.django_db


def upload(client, data: bytes, run_on_commit, **extra):
    with run_on_commit():
        response = client.post(
            reverse("api:publisher-version-list"),
            {"package": io.BytesIO(data), **extra},
            format="multipart",
        )
    return response


def test_a_clean_package_passes_every_step_and_is_published_signed(developer_client, publisher, run_on_commit):
    # when
    response = upload(developer_client, build_package(), run_on_commit)

    # then
    assert response.status_code == 201, response.content
    version = ExtensionVersion.objects.get(pk=response.json()["id"])
    assert version.status == VersionStatus.PUBLISHED
    assert [version.steps[s]["status"] for s in ("validate", "scan", "test", "certify", "publish")] == ["passed"] * 5
    assert version.findings == []
    assert version.certified_at is not None
    assert signing.verify_digest(version.sha256, version.signature, signing.public_key_pem())
    extension = Extension.objects.get(slug="acme.tickets")
    assert extension.latest_version == version
    assert extension.is_certified
    assert AuditEvent.objects.filter(action="marketplace.version_published", target_id=str(version.pk)).exists()


def test_the_developer_follows_the_version_through_the_api(developer_client, publisher, run_on_commit):
    created = upload(developer_client, build_package(), run_on_commit).json()

    response = developer_client.get(reverse("api:publisher-version-detail", kwargs={"pk": created["id"]}))

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "published"
    assert body["certified"] is True
    assert set(body["steps"]) == {
        "upload",
        "validating",
        "validate",
        "scanning",
        "scan",
        "testing",
        "test",
        "certify",
        "publish",
    }


TRIPS = {
    "zip bomb": (
        build_package(files={"data/zeros.bin": b"\0" * (8 * 1024 * 1024)}),
        "MKT-S003",
        "data/zeros.bin",
        "This file unpacks to 8388608 bytes from ",
    ),
    "../ path": (
        build_package(files={"../outside.json": "{}"}),
        "MKT-S004",
        "../outside.json",
        "This path would be written outside the package (absolute path, `..` or backslash); use relative paths "
        "inside the package.",
    ),
    "symlink": (
        build_package(symlinks={"link.json": "/etc/passwd"}),
        "MKT-S005",
        "link.json",
        "Symbolic links are not allowed; include the file itself.",
    ),
    "secret in a file": (
        build_package(files={"notes.txt": "deploy with\nghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8\n"}),
        "MKT-S006",
        "notes.txt",
        "Possible GitHub token committed in this file. Remove it and rotate it; secrets belong in configuration "
        'fields marked "secret": true, entered at install time.',
    ),
    "bad manifest": (
        build_package(manifest(category="Not A Slug")),
        "MKT-V004",
        "nofx-extension.json",
        "category: String should match pattern '^[a-z0-9][a-z0-9-]{0,49}$'",
    ),
    "private egress host": (
        build_package(manifest(permissions={"egress": ["api.acme.io", "192.168.1.20"]})),
        "MKT-S009",
        "nofx-extension.json",
        "Egress host '192.168.1.20' is a private, loopback or link-local address; extensions may only contact "
        "public hosts.",
    ),
}


@pytest.mark.parametrize("case", list(TRIPS), ids=list(TRIPS))
def test_a_package_that_trips_a_rule_is_rejected_and_the_developer_reads_the_exact_reason(
    case, developer_client, publisher, run_on_commit
):
    # given
    data, rule_id, file, message = TRIPS[case]

    # when
    created = upload(developer_client, data, run_on_commit).json()
    body = developer_client.get(reverse("api:publisher-version-detail", kwargs={"pk": created["id"]})).json()

    # then
    assert body["status"] == "rejected"
    blocking = [f for f in body["findings"] if f["blocking"]]
    assert blocking, body["findings"]
    finding = blocking[0]
    assert finding["rule_id"] == rule_id
    assert finding["file"] == file
    assert finding["message"].startswith(message)
    assert finding["mode"] == "enforced"
    assert body["status_reason"].startswith(f"{rule_id} ({file}")
    assert message[:40] in body["status_reason"]


def test_a_dependency_cycle_is_rejected_naming_the_cycle(developer_client, publisher, run_on_commit):
    # given a published extension that depends on acme.tickets
    base = publish_extension(
        publisher=PublisherFactory(slug="other"),
        slug="other.base",
        dependencies=[{"id": "acme.tickets", "version": "^1.0"}],
    )
    data = build_package(manifest(dependencies=[{"id": base.slug, "version": "^1.0"}]))

    # when
    created = upload(developer_client, data, run_on_commit).json()
    body = developer_client.get(reverse("api:publisher-version-detail", kwargs={"pk": created["id"]})).json()

    # then
    assert body["status"] == "rejected"
    (finding,) = [f for f in body["findings"] if f["blocking"]]
    assert finding["rule_id"] == "MKT-V007"
    assert finding["message"] == "Dependencies form a cycle: acme.tickets -> other.base -> acme.tickets."
    assert finding["line"] is not None


def test_an_upload_without_a_readable_manifest_is_refused_at_once_with_the_rule(
    developer_client, publisher, run_on_commit
):
    response = upload(
        developer_client,
        build_package(
            "{ not json",
        ),
        run_on_commit,
    )

    assert response.status_code == 422
    problem = response.json()
    assert problem["errors"][0]["code"] == "MKT-V003"
    assert "not valid JSON" in problem["errors"][0]["message"]
    assert not ExtensionVersion.objects.exists()


def test_bytes_that_are_not_a_zip_are_refused_with_v001(developer_client, publisher, run_on_commit):
    response = upload(developer_client, b"PK\x03\x04 but not really", run_on_commit)

    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "MKT-V001"


def test_another_publishers_prefix_is_refused(developer_client, publisher, run_on_commit):
    response = upload(developer_client, build_package(manifest(id="globex.tickets")), run_on_commit)

    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "id_prefix"


def test_version_numbers_are_never_reused_and_must_increase(developer, publisher, run_on_commit):
    # given 1.1.0 published
    with run_on_commit():
        upload_version(publisher=publisher, actor=developer, data=build_package(manifest(version="1.1.0")))

    # when the same number is uploaded again, or a lower one
    from apps.core.exceptions import Conflict

    with pytest.raises(Conflict, match="never reused"):
        upload_version(publisher=publisher, actor=developer, data=build_package(manifest(version="1.1.0")))
    with run_on_commit():
        lower = upload_version(publisher=publisher, actor=developer, data=build_package(manifest(version="1.0.5")))

    # then
    lower.refresh_from_db()
    assert lower.status == VersionStatus.REJECTED
    assert lower.findings[0]["rule_id"] == "MKT-V005"


def test_a_monitor_only_rule_records_its_finding_without_blocking(developer, publisher, run_on_commit):
    # given an operator switched the secret rule to monitor-only
    set_rule_mode(rule_id="MKT-S006", mode=RuleMode.MONITOR, actor=None)
    data = build_package(files={"notes.txt": "token = xoxb-1234567890-abcdefghij\n"})

    # when
    with run_on_commit():
        version = upload_version(publisher=publisher, actor=developer, data=data)

    # then it is published but not certified, and the finding is there for the developer
    version.refresh_from_db()
    assert version.status == VersionStatus.PUBLISHED
    assert version.certified_at is None
    (finding,) = version.findings
    assert (finding["rule_id"], finding["mode"], finding["blocking"]) == ("MKT-S006", "monitor", False)


def test_a_squatting_id_is_quarantined_and_an_operator_releases_it(developer, publisher, run_on_commit, admin_user):
    # given another publisher's popular extension
    publish_extension(publisher=PublisherFactory(slug="atlassian"), slug="atlassian.tickets", name="Tickets Pro")

    # when acme uploads acme.tickets
    with run_on_commit():
        version = upload_version(publisher=publisher, actor=developer, data=build_package())
    version.refresh_from_db()

    # then it is held for an operator
    assert version.status == VersionStatus.QUARANTINED
    assert version.status_reason.startswith("MKT-S011")

    # and an operator's release publishes it
    decide_quarantine(version=version, actor=admin_user, release=True, note="Distinct product")
    version.refresh_from_db()
    assert version.status == VersionStatus.PUBLISHED
    assert version.certified_at is None


def test_an_operator_can_reject_a_quarantined_version(developer, publisher, run_on_commit):
    publish_extension(publisher=PublisherFactory(slug="atlassian"), slug="atlassian.tickets")
    with run_on_commit():
        version = upload_version(publisher=publisher, actor=developer, data=build_package())

    decide_quarantine(version=ExtensionVersion.objects.get(pk=version.pk), actor=None, release=False)

    assert ExtensionVersion.objects.get(pk=version.pk).status == VersionStatus.REJECTED


def test_a_workflow_definition_is_validated_in_the_test_step(developer, publisher, run_on_commit):
    # given a workflow whose target connector is unknown
    workflow = {**WORKFLOW, "target": {"connector": "mystery", "object": "thing"}}
    data = build_package(
        manifest(type="workflow", entryPoint="workflow.json"), files={"workflow.json": json.dumps(workflow, indent=2)}
    )

    # when
    with run_on_commit():
        version = upload_version(publisher=publisher, actor=developer, data=data)

    # then
    version.refresh_from_db()
    assert version.status == VersionStatus.REJECTED
    (finding,) = version.findings
    assert finding["rule_id"] == "MKT-T003"
    assert (finding["file"], finding["line"]) == ("workflow.json", 8)


def test_a_connector_manifest_breaking_its_schema_is_rejected_in_the_test_step(developer, publisher, run_on_commit):
    data = build_package(
        files={"connector.json": json.dumps({"name": "x", "baseUrl": "https://api.acme.io", "auth": {}})}
    )

    with run_on_commit():
        version = upload_version(publisher=publisher, actor=developer, data=data)

    version.refresh_from_db()
    assert version.status == VersionStatus.REJECTED
    assert {f["rule_id"] for f in version.findings} == {"MKT-T001"}
    assert version.steps["test"]["status"] == "failed"


def test_changing_a_rule_rescans_published_versions_and_quarantines_what_it_now_blocks(
    developer, publisher, run_on_commit
):
    # given a version published while the secret rule was monitor-only
    set_rule_mode(rule_id="MKT-S006", mode=RuleMode.MONITOR, actor=None)
    data = build_package(files={"notes.txt": "token = xoxb-1234567890-abcdefghij\n"})
    with run_on_commit():
        version = upload_version(publisher=publisher, actor=developer, data=data)
    version.refresh_from_db()
    assert version.status == VersionStatus.PUBLISHED

    # when an operator enforces the rule again (which queues the rescan)
    with run_on_commit():
        set_rule_mode(rule_id="MKT-S006", mode=RuleMode.ENFORCED, actor=None)

    # then the published version is held for an operator and leaves the catalog
    version.refresh_from_db()
    assert version.status == VersionStatus.QUARANTINED
    assert version.status_reason.startswith("Rescan under changed rules: MKT-S006")
    assert Extension.objects.get(slug="acme.tickets").latest_version is None
    assert AuditEvent.objects.filter(action="marketplace.version_quarantined_on_rescan").count() == 1


def test_a_rescan_skips_versions_already_checked_under_the_current_rules(developer, publisher, run_on_commit):
    with run_on_commit():
        upload_version(publisher=publisher, actor=developer, data=build_package())

    assert rescan_published_versions() == 0
    assert rescan_published_versions(force=True) == 1
