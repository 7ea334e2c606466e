"""Publishers, uploads, yanks, quarantine decisions and rule switches."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.models import Organization, User
from apps.core.exceptions import BusinessRuleViolation, Conflict, NotPermitted
from apps.marketplace.models import (
    Extension,
    ExtensionVersion,
    Publisher,
    RuleMode,
    RuleSetting,
    VerificationState,
    VersionChannel,
    VersionStatus,
)
from apps.marketplace.services.directory import publish_publisher_entry
from apps.security.observers import acting_person
from apps.security.services import record_audit_event
from nofx_sdk import rules
from nofx_sdk.rules.archive import ArchiveLimits
from nofx_sdk.rules.checks import loaded_document
from nofx_sdk.rules.manifest import EXTENSION_ID_PATTERN, ExtensionType
from nofx_sdk.rules.semver import InvalidVersion, Version

_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def create_publisher(
    *, organization: Organization, actor: User, slug: str, name: str, website: str = "", accept_terms: bool = False
) -> Publisher:
    """Make the organization a publisher under `slug`, the prefix of all its extension ids."""
    if not accept_terms:
        raise BusinessRuleViolation("Accept the publisher terms to publish extensions.", field="accept_terms")
    if not _SLUG.match(slug) or len(slug) > 40:
        raise BusinessRuleViolation(
            "A publisher slug is lower-case letters, digits and single hyphens.", field="slug", code="invalid"
        )
    if Publisher.objects.filter(organization=organization).exists():
        raise Conflict("This organization is already a publisher.", code="already_publisher")
    try:
        with transaction.atomic():
            publisher = Publisher.objects.create(
                organization=organization,
                slug=slug,
                name=name.strip() or slug,
                website=website,
                accepted_terms_at=timezone.now(),
            )
            record_audit_event(
                actor=actor,
                action="marketplace.publisher_created",
                target=publisher,
                organization=organization,
                data={"slug": slug},
            )
            publish_publisher_entry(publisher=publisher)
    except IntegrityError as exc:
        raise Conflict("That publisher slug is taken.", field="slug", code="slug_taken") from exc
    return publisher


def update_publisher(
    *, publisher: Publisher, actor: User, name: str | None = None, website: str | None = None
) -> Publisher:
    """Change the publisher's display name or website."""
    with transaction.atomic():
        if name is not None and name.strip():
            publisher.name = name.strip()
        if website is not None:
            publisher.website = website
        publisher.save(update_fields=["name", "website", "updated_at"])
        record_audit_event(actor=actor, action="marketplace.publisher_updated", target=publisher)
        publish_publisher_entry(publisher=publisher)
    return publisher


def verify_publisher(*, publisher: Publisher, actor: User | None, verified: bool) -> Publisher:
    """An operator's verification decision on a publisher's identity."""
    with transaction.atomic():
        publisher.verification = VerificationState.VERIFIED if verified else VerificationState.UNVERIFIED
        publisher.verified_at = timezone.now() if verified else None
        publisher.save(update_fields=["verification", "verified_at", "updated_at"])
        record_audit_event(
            actor=actor,
            action="marketplace.publisher_verified" if verified else "marketplace.publisher_unverified",
            target=publisher,
        )
        publish_publisher_entry(publisher=publisher)
        from apps.marketplace.services.catalog import refresh_extension_listing

        for extension in publisher.extensions.all():
            refresh_extension_listing(extension=extension)
    return publisher


def _upload_refusal(findings: list[rules.Finding]) -> BusinessRuleViolation:
    first = findings[0]
    return BusinessRuleViolation(
        str(first),
        field="package",
        code=first.rule_id,
        errors=[{"field": "package", "message": str(f), "code": f.rule_id} for f in findings],
    )


def upload_version(*, publisher: Publisher, actor: User, data: bytes, auto_publish: bool = True) -> ExtensionVersion:
    """Store an uploaded package as a new pending version and start the pipeline on it.

    Only what is needed to file the upload is checked here (a readable manifest with an id and a version);
    everything else is the pipeline's job, so the developer sees every finding at once.
    """
    if len(data) > 2 * settings.MARKETPLACE_MAX_PACKAGE_BYTES:
        raise BusinessRuleViolation(
            f"The package is {len(data)} bytes; the limit is {settings.MARKETPLACE_MAX_PACKAGE_BYTES} bytes.",
            field="package",
            code="MKT-S001",
        )
    package = rules.read_package(data, ArchiveLimits(max_package_bytes=settings.MARKETPLACE_MAX_PACKAGE_BYTES))
    if package.archive is None:
        context = rules.PackageContext(limits=package.limits)
        raise _upload_refusal(rules.scan_package(package, context) + rules.validate_package(package, context))
    document, early = loaded_document(package)
    if not isinstance(document, dict):
        raise _upload_refusal(early)
    ext_id, version_text = document.get("id"), document.get("version")
    if not isinstance(ext_id, str) or not re.match(EXTENSION_ID_PATTERN, ext_id):
        raise BusinessRuleViolation(
            "The manifest needs an `id` like `publisher.extension-name` (lower case, digits, hyphens).",
            field="package",
            code="MKT-V004",
        )
    try:
        semver = Version.parse(version_text if isinstance(version_text, str) else "")
    except InvalidVersion as exc:
        raise BusinessRuleViolation(f"version: {exc}", field="package", code="MKT-V004") from exc
    if ext_id.split(".", 1)[0] != publisher.slug:
        raise NotPermitted(
            f"Extension ids of this publisher start with {publisher.slug!r}.", field="package", code="id_prefix"
        )
    sha256 = hashlib.sha256(data).hexdigest()
    ext_type = (
        str(document.get("type")) if document.get("type") in set(ExtensionType) else ExtensionType.CONNECTOR.value
    )
    with transaction.atomic():
        extension, created = Extension.objects.select_for_update().get_or_create(
            slug=ext_id,
            defaults={
                "publisher": publisher,
                "type": ext_type,
                "name": str(document.get("name") or ext_id)[:80],
                "summary": str(document.get("description") or "")[:5000],
            },
        )
        if extension.publisher_id != publisher.pk:
            raise NotPermitted("That extension id belongs to another publisher.", field="package", code="id_taken")
        if ExtensionVersion.objects.filter(extension=extension, version=str(semver)).exists():
            raise Conflict(
                f"Version {semver} of {ext_id} was already uploaded; version numbers are never reused.",
                field="package",
                code="version_exists",
            )
        version = ExtensionVersion(
            extension=extension,
            version=str(semver),
            version_major=semver.major,
            version_minor=semver.minor,
            version_patch=semver.patch,
            is_prerelease=bool(semver.prerelease),
            manifest=document,
            permissions=document.get("permissions") if isinstance(document.get("permissions"), dict) else {},
            package_size=len(data),
            sha256=sha256,
            auto_publish=auto_publish,
            changelog=str(document.get("changelog") or ""),
            uploaded_by=acting_person(actor),
            steps={"upload": {"status": "done", "at": timezone.now().isoformat()}},
        )
        version.package.save(f"{sha256}.zip", ContentFile(data), save=False)
        version.save()
        record_audit_event(
            actor=actor,
            action="marketplace.version_uploaded",
            target=version,
            organization=publisher.organization,
            data={"extension": ext_id, "version": str(semver), "sha256": sha256, "new_extension": created},
        )
        from apps.marketplace.services.pipeline import start_pipeline

        start_pipeline(version=version)
    return version


def yank_version(*, version: ExtensionVersion, actor: User | None, reason: str) -> ExtensionVersion:
    """Withdraw a published version: no new installs; existing installations keep running it."""
    if version.status != VersionStatus.PUBLISHED:
        raise Conflict("Only a published version can be yanked.", code="not_published")
    if not reason.strip():
        raise BusinessRuleViolation("Say why the version is yanked.", field="reason", code="required")
    with transaction.atomic():
        version.status = VersionStatus.YANKED
        version.status_reason = reason.strip()
        version.yanked_at = timezone.now()
        version.save(update_fields=["status", "status_reason", "yanked_at", "updated_at"])
        record_audit_event(
            actor=actor,
            action="marketplace.version_yanked",
            target=version,
            organization=version.extension.publisher.organization,
            data={"version": version.version},
        )
        from apps.marketplace.services.catalog import refresh_extension_listing

        refresh_extension_listing(extension=version.extension)
    return version


def set_version_channel(*, version: ExtensionVersion, actor: User, channel: str) -> ExtensionVersion:
    """Release a reviewed version to a pre-release channel (dev, staging) or take it off one ("")."""
    if channel and channel not in VersionChannel.values:
        raise BusinessRuleViolation(f"No channel {channel!r}.", field="channel", code="unknown_channel")
    if channel and version.status not in (VersionStatus.PASSED, VersionStatus.PUBLISHED):
        raise Conflict("Only a version that passed review can go to a channel.", code="not_passed")
    with transaction.atomic():
        version.channel = channel
        version.save(update_fields=["channel", "updated_at"])
        record_audit_event(
            actor=actor,
            action="marketplace.version_channel_set",
            target=version,
            organization=version.extension.publisher.organization_id,
            data={"version": version.version, "channel": channel},
        )
    return version


def decide_quarantine(
    *, version: ExtensionVersion, actor: User | None, release: bool, note: str = ""
) -> ExtensionVersion:
    """An operator's decision on a quarantined version: release it (publish or pass) or reject it."""
    if version.status != VersionStatus.QUARANTINED:
        raise Conflict("The version is not quarantined.", code="not_quarantined")
    from apps.marketplace.services.pipeline import certify_version, publish_version

    with transaction.atomic():
        record_audit_event(
            actor=actor,
            action="marketplace.quarantine_released" if release else "marketplace.quarantine_rejected",
            target=version,
            organization=version.extension.publisher.organization,
            data={"version": version.version},
        )
        if not release:
            version.status = VersionStatus.REJECTED
            version.status_reason = note or "Rejected by an operator after review."
            version.save(update_fields=["status", "status_reason", "updated_at"])
            from apps.marketplace.services.catalog import refresh_extension_listing

            refresh_extension_listing(extension=version.extension)
            return version
        was_published = version.published_at is not None
        version.status = VersionStatus.TESTING
        version.status_reason = note or "Released by an operator after review."
        version.save(update_fields=["status", "status_reason", "updated_at"])
        certify_version(version_id=version.pk, operator_release=True)
        version.refresh_from_db()
        if was_published or version.auto_publish:
            publish_version(version_id=version.pk, actor=actor, explicit=was_published)
            version.refresh_from_db()
    return version


def set_rule_mode(*, rule_id: str, mode: str, actor: User | None, note: str = "") -> RuleSetting:
    """Switch a pipeline rule to monitor-only, enforced or required; published versions are rescanned."""
    if rule_id not in rules.RULES:
        raise BusinessRuleViolation(f"No rule {rule_id!r}.", field="rule_id", code="unknown_rule")
    if mode not in RuleMode.values:
        raise BusinessRuleViolation(f"No mode {mode!r}.", field="mode", code="unknown_mode")
    with transaction.atomic():
        setting, _ = RuleSetting.objects.update_or_create(
            rule_id=rule_id, defaults={"mode": mode, "note": note, "changed_by": actor}
        )
        record_audit_event(
            actor=actor, action="marketplace.rule_mode_changed", target=setting, data={"rule": rule_id, "mode": mode}
        )
        from apps.marketplace.tasks import rescan_published_versions_task

        transaction.on_commit(lambda: rescan_published_versions_task.delay())
    return setting


def package_bytes(version: ExtensionVersion) -> bytes:
    with version.package.open("rb") as handle:
        data: Any = handle.read()
    return bytes(data)


def set_deprecated(*, extension: Extension, actor: User, deprecated: bool) -> Extension:
    """Mark an extension deprecated (still installable, ranked lower) or not."""
    with transaction.atomic():
        extension.is_deprecated = deprecated
        extension.save(update_fields=["is_deprecated", "updated_at"])
        record_audit_event(
            actor=actor,
            action="marketplace.extension_deprecated" if deprecated else "marketplace.extension_undeprecated",
            target=extension,
            organization=extension.publisher.organization_id,
        )
        from apps.marketplace.services.catalog import refresh_extension_listing

        refresh_extension_listing(extension=extension)
    return extension


def set_delisted(*, extension: Extension, actor: User | None, delisted: bool) -> Extension:
    """Hide an extension from the catalog (an operator's decision; installations keep working) or list it again."""
    from apps.marketplace.services.catalog import refresh_extension_listing

    with transaction.atomic():
        extension.is_delisted = delisted
        extension.save(update_fields=["is_delisted", "updated_at"])
        record_audit_event(
            actor=actor,
            action="marketplace.extension_delisted" if delisted else "marketplace.extension_relisted",
            target=extension,
            organization=extension.publisher.organization_id,
        )
        # In the same transaction, so the catalog entry replicated to other regions moves with it.
        refresh_extension_listing(extension=extension)
    return extension
