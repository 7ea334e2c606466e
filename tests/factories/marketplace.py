"""Packages (zip bytes) that pass or trip each rule, and catalog rows for the marketplace tests."""

from __future__ import annotations

import copy
import hashlib
import io
import json
import zipfile
from typing import Any

import factory
from django.core.files.base import ContentFile
from django.utils import timezone

from apps.marketplace.models import (
    Extension,
    ExtensionVersion,
    Installation,
    InstallationStatus,
    Publisher,
    Review,
    VerificationState,
    VersionStatus,
)
from apps.marketplace.services.catalog import refresh_extension_listing
from tests.factories.accounts import OrganizationFactory

CONNECTOR = {
    "name": "acme_tickets",
    "baseUrl": "https://api.acme.io",
    "auth": {"type": "api_key", "header": "X-Api-Key"},
    "resources": [{"name": "ticket", "path": "/tickets", "idField": "id", "pagination": {"type": "cursor"}}],
}
WORKFLOW = {
    "name": "Jira to ServiceNow",
    "source": {"connector": "jira", "object": "issue"},
    "target": {"connector": "servicenow", "object": "incident"},
    "direction": "two_way",
    "mapping": [{"source": "summary", "target": "short_description"}],
    "conflictPolicy": "newest_wins",
}


def manifest(**overrides: Any) -> dict[str, Any]:
    """A valid connector manifest; keyword arguments replace top-level keys (None removes one)."""
    data: dict[str, Any] = {
        "id": "acme.tickets",
        "version": "1.0.0",
        "type": "connector",
        "name": "Acme Tickets",
        "description": "Sync tickets between Acme and your service desk.",
        "author": {"name": "Acme Inc."},
        "category": "ticketing",
        "tags": ["tickets", "sync"],
        "support": {"level": "professional", "url": "https://acme.io/support"},
        "links": {"homepage": "https://acme.io", "privacy": "https://acme.io/privacy"},
        "permissions": {"scopes": ["connectors.view"], "egress": ["api.acme.io"], "dataClasses": ["internal"]},
        "requires": {"platform": ">=0.1.0 <1.0.0"},
        "entryPoint": "connector.json",
        "configSchema": {
            "type": "object",
            "required": ["region"],
            "properties": {
                "region": {"type": "string", "enum": ["eu", "us"]},
                "apiKey": {"type": "string", "secret": True},
            },
        },
    }
    for key, value in overrides.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return copy.deepcopy(data)


def app_manifest(base_url: str = "https://app.acme.io", **overrides: Any) -> dict[str, Any]:
    host = base_url.split("://", 1)[1].split("/", 1)[0]
    data = manifest(
        id="acme.insights",
        type="agent",
        name="Acme Insights",
        entryPoint=None,
        permissions={"scopes": ["workflows.view"], "egress": [host], "dataClasses": ["internal"]},
        app={
            "baseUrl": base_url,
            "registrationUrl": f"{base_url}/register",
            "webhookUrl": f"{base_url}/webhooks",
        },
        webhooks={"events": ["installation.created", "installation.updated", "installation.uninstalled"]},
    )
    data.update(overrides)
    return data


def build_package(
    manifest_data: dict[str, Any] | str | None = None,
    files: dict[str, bytes | str] | None = None,
    *,
    manifest_name: str = "nofx-extension.json",
    symlinks: dict[str, str] | None = None,
    with_connector: bool = True,
) -> bytes:
    """Zip bytes of a package. `manifest_data` as a string is written verbatim (to test broken manifests)."""
    data = manifest() if manifest_data is None else manifest_data
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        text = data if isinstance(data, str) else json.dumps(data, indent=2)
        archive.writestr(manifest_name, text)
        entries = dict(files or {})
        if with_connector and isinstance(data, dict) and data.get("entryPoint") == "connector.json":
            entries.setdefault("connector.json", json.dumps(CONNECTOR, indent=2))
        for name, content in entries.items():
            archive.writestr(zipfile.ZipInfo(name), content, compress_type=zipfile.ZIP_DEFLATED)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (0o120777) << 16
            archive.writestr(info, target)
    return buffer.getvalue()


class PublisherFactory(factory.django.DjangoModelFactory[Publisher]):
    class Meta:
        model = Publisher

    organization = factory.SubFactory(OrganizationFactory)
    slug = factory.Sequence(lambda n: f"pub{n}")
    name = factory.Sequence(lambda n: f"Publisher {n}")
    verification = VerificationState.VERIFIED
    accepted_terms_at = factory.LazyFunction(timezone.now)


def publish_extension(
    *,
    publisher: Publisher | None = None,
    slug: str | None = None,
    version: str = "1.0.0",
    manifest_data: dict[str, Any] | None = None,
    certified: bool = True,
    files: dict[str, bytes | str] | None = None,
    **manifest_overrides: Any,
) -> Extension:
    """A listed extension with one published version, made directly (no pipeline) for catalog tests."""
    publisher = publisher or PublisherFactory()
    slug = slug or f"{publisher.slug}.ext-{ExtensionVersion.objects.count() + Extension.objects.count()}"
    manifest_overrides.pop("id", None)
    data = manifest_data or manifest(id=slug, version=version, **manifest_overrides)
    extension, _ = Extension.objects.get_or_create(
        slug=slug, defaults={"publisher": publisher, "type": data["type"], "name": data["name"]}
    )
    add_published_version(extension=extension, manifest_data=data, certified=certified, files=files)
    extension.refresh_from_db()
    return extension


def add_published_version(
    *,
    extension: Extension,
    manifest_data: dict[str, Any],
    certified: bool = True,
    status: str = VersionStatus.PUBLISHED,
    files: dict[str, bytes | str] | None = None,
) -> ExtensionVersion:
    """A version stored directly in `status` (PASSED versions are then published through the service)."""
    from nofx_sdk.rules.semver import Version

    semver = Version.parse(manifest_data["version"])
    package = build_package(manifest_data, files)
    sha = hashlib.sha256(package).hexdigest()
    version = ExtensionVersion(
        extension=extension,
        version=manifest_data["version"],
        version_major=semver.major,
        version_minor=semver.minor,
        version_patch=semver.patch,
        status=status,
        manifest=manifest_data,
        permissions=manifest_data.get("permissions") or {},
        package_size=len(package),
        sha256=sha,
        certified_at=timezone.now() if certified else None,
        published_at=timezone.now() if status == VersionStatus.PUBLISHED else None,
    )
    version.package.save(f"{sha}.zip", ContentFile(package), save=False)
    version.save()
    if status == VersionStatus.PUBLISHED:
        refresh_extension_listing(extension=extension)
    return version


def make_installation(
    *, organization: Any, extension: Extension, status: str = InstallationStatus.ACTIVE, **fields: Any
) -> Installation:
    version = extension.latest_version
    assert version is not None
    from apps.marketplace.services.installations import permissions_of

    return Installation.objects.create(
        organization=organization,
        extension=extension,
        version=version,
        status=status,
        granted_permissions=permissions_of(version),
        activated_at=timezone.now() if status != InstallationStatus.PENDING else None,
        region_code=organization.home_region_code,
        webhook_secret="test-webhook-secret",
        **fields,
    )


class ReviewFactory(factory.django.DjangoModelFactory[Review]):
    """A visible review by another organization of a listed extension (pass `extension`), tied to its latest version."""

    class Meta:
        model = Review

    organization = factory.SubFactory(OrganizationFactory)
    version = factory.LazyAttribute(lambda review: review.extension.latest_version)
    rating = 4
    title = factory.Sequence(lambda n: f"Review {n}")
    body = "Does what it says."
