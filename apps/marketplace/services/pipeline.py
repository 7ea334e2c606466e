"""The publish pipeline: validate -> scan -> test -> certify -> publish, one service per step.

Each step re-loads the version, acts only if the version is where the step expects it (so a repeated or
late task does nothing), records its findings on the version with each rule's mode, and either moves the
version on or stops it: rejected (back to the developer) or quarantined (held for an operator).
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.marketplace import signing
from apps.marketplace.connectors_bridge import (
    OutboundFailed,
    OutboundRefused,
    exercise_connector_manifest,
    outbound_request,
)
from apps.marketplace.models import (
    Extension,
    ExtensionVersion,
    RuleMode,
    RuleSetting,
    VersionStatus,
)
from apps.security.services import record_audit_event
from nofx_sdk import rules
from nofx_sdk.rules.archive import ArchiveLimits
from nofx_sdk.rules.checks import manifest_of, payload_of
from nofx_sdk.rules.dependencies import PublishedVersion
from nofx_sdk.rules.manifest import APP_TYPES, ExtensionType

logger = logging.getLogger(__name__)


# -- Rule modes -----------------------------------------------------------------------------------------


def effective_modes() -> dict[str, str]:
    """Each rule's mode: the operator's switch, else the rule's default."""
    modes: dict[str, str] = {
        rule_id: str(RuleMode.ENFORCED if rule.enforced_by_default else RuleMode.MONITOR)
        for rule_id, rule in rules.RULES.items()
    }
    for rule_id, mode in RuleSetting.objects.values_list("rule_id", "mode"):
        modes[rule_id] = str(mode)
    return modes


def ruleset_fingerprint(modes: dict[str, str] | None = None) -> str:
    """Changes whenever a rule's behaviour or mode changes: versions checked under another one are rescanned."""
    modes = modes or effective_modes()
    text = rules.RULES_ENGINE_VERSION + ";" + ";".join(f"{k}={v}" for k, v in sorted(modes.items()))
    return hashlib.sha256(text.encode()).hexdigest()


def _record(finding: rules.Finding, step: str, modes: dict[str, str]) -> dict[str, Any]:
    rule = rules.RULES[finding.rule_id]
    mode = modes.get(finding.rule_id, RuleMode.ENFORCED)
    if finding.inconclusive:
        blocking = mode == RuleMode.REQUIRED
    else:
        blocking = mode != RuleMode.MONITOR and finding.severity == rules.Severity.ERROR
    return {
        **finding.as_dict(),
        "step": step,
        "title": rule.title,
        "mode": mode,
        "outcome": str(rule.outcome),
        "blocking": blocking,
    }


# -- Context from the catalog --------------------------------------------------------------------------


def _package(version: ExtensionVersion) -> rules.ReadPackage:
    from apps.marketplace.services.publishing import package_bytes

    return rules.read_package(
        package_bytes(version), ArchiveLimits(max_package_bytes=settings.MARKETPLACE_MAX_PACKAGE_BYTES)
    )


def _catalog() -> dict[str, list[PublishedVersion]]:
    catalog: dict[str, list[PublishedVersion]] = {}
    rows = ExtensionVersion.objects.filter(status=VersionStatus.PUBLISHED).values_list(
        "extension__slug", "version", "manifest"
    )
    for slug, version, manifest in rows.iterator():
        deps = tuple(
            (d.get("id", ""), d.get("version", "*"))
            for d in (manifest or {}).get("dependencies") or []
            if isinstance(d, dict)
        )
        catalog.setdefault(slug, []).append(PublishedVersion(version=version, dependencies=deps))
    return catalog


def _context(version: ExtensionVersion, *, for_rescan: bool = False) -> rules.PackageContext:
    extension = version.extension
    earlier: tuple[str, ...] = ()
    if not for_rescan:
        earlier = tuple(
            ExtensionVersion.objects.filter(extension=extension)
            .exclude(pk=version.pk)
            .values_list("version", flat=True)
        )
    others = tuple(
        Extension.objects.exclude(publisher_id=extension.publisher_id)
        .filter(latest_version__isnull=False)
        .values_list("slug", "name")
    )
    return rules.PackageContext(
        platform_version=settings.PLATFORM_VERSION,
        expected_id=extension.slug,
        earlier_versions=earlier,
        catalog=_catalog(),
        others=others,
        allow_private_addresses=settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES,
        limits=ArchiveLimits(max_package_bytes=settings.MARKETPLACE_MAX_PACKAGE_BYTES),
    )


# -- Steps ----------------------------------------------------------------------------------------------


def _claim(version_id: Any, expected: Iterable[str], working: str) -> ExtensionVersion | None:
    with transaction.atomic():
        version = ExtensionVersion.objects.select_for_update().select_related("extension").filter(pk=version_id).first()
        if version is None or version.status not in set(expected):
            return None
        version.status = working
        steps = dict(version.steps)
        steps[working] = {"status": "running", "at": timezone.now().isoformat()}
        version.steps = steps
        version.save(update_fields=["status", "steps", "updated_at"])
    return version


def _finish_step(
    version: ExtensionVersion, step: str, findings: list[rules.Finding], next_status: str, modes: dict[str, str]
) -> bool:
    """Store the step's findings; stop the version if one blocks. True when the pipeline goes on."""
    recorded = [_record(f, step, modes) for f in findings]
    blocking = [f for f in recorded if f["blocking"]]
    version.findings = [f for f in version.findings if f.get("step") != step] + recorded
    steps = dict(version.steps)
    if blocking:
        quarantine = all(f["outcome"] == rules.Outcome.QUARANTINE for f in blocking)
        version.status = VersionStatus.QUARANTINED if quarantine else VersionStatus.REJECTED
        first = blocking[0]
        where = (
            f" ({first['file']}{':' + str(first['line']) if first.get('line') else ''})" if first.get("file") else ""
        )
        version.status_reason = f"{first['rule_id']}{where}: {first['message']}"
        steps[step] = {"status": "failed", "at": timezone.now().isoformat(), "blocking": len(blocking)}
    else:
        version.status = next_status
        steps[step] = {"status": "passed", "at": timezone.now().isoformat(), "findings": len(recorded)}
    version.steps = steps
    version.ruleset_fingerprint = ruleset_fingerprint(modes)
    with transaction.atomic():
        version.save(
            update_fields=["findings", "steps", "status", "status_reason", "ruleset_fingerprint", "updated_at"]
        )
        if blocking:
            record_audit_event(
                actor=None,
                action=f"marketplace.version_{version.status}",
                target=version,
                organization=version.extension.publisher.organization_id,
                data={"step": step, "rules": sorted({f["rule_id"] for f in blocking})},
            )
    return not blocking


def run_validate_step(*, version_id: Any) -> bool:
    """Manifest schema, semver, increasing version, dependencies and platform range."""
    version = _claim(version_id, (VersionStatus.PENDING, VersionStatus.VALIDATING), VersionStatus.VALIDATING)
    if version is None:
        return False
    findings = rules.validate_package(_package(version), _context(version))
    return _finish_step(version, "validate", findings, VersionStatus.SCANNING, effective_modes())


def run_scan_step(*, version_id: Any) -> bool:
    """Archive limits, traversal and links, secrets, scripts, egress, name-squatting."""
    version = _claim(version_id, (VersionStatus.SCANNING,), VersionStatus.SCANNING)
    if version is None:
        return False
    findings = rules.scan_package(_package(version), _context(version))
    return _finish_step(version, "scan", findings, VersionStatus.TESTING, effective_modes())


def handshake_findings(registration_url: str) -> list[rules.Finding]:
    """MKT-T004: POST a challenge to the app's registration URL; it must echo it back."""
    challenge = secrets.token_urlsafe(24)
    body = json.dumps({"type": "nofx.handshake", "challenge": challenge}).encode()
    try:
        response = outbound_request(
            "POST",
            registration_url,
            body=body,
            headers={"Content-Type": "application/json", "Nofx-Handshake": "1"},
            timeout=10,
        )
    except OutboundRefused as exc:
        return [rules.Finding("MKT-T004", f"The handshake to {registration_url} was refused: {exc}")]
    except OutboundFailed as exc:
        return [
            rules.Finding(
                "MKT-T004",
                f"The app at {registration_url} could not be reached for the handshake ({exc}).",
                severity=rules.Severity.WARNING,
                inconclusive=True,
            )
        ]
    try:
        echoed = response.json().get("challenge") if 200 <= response.status < 300 else None
    except (ValueError, AttributeError):
        echoed = None
    if echoed != challenge:
        return [
            rules.Finding(
                "MKT-T004",
                f"The app at {registration_url} answered the handshake with HTTP {response.status} but did not "
                'echo the challenge: reply 200 with {"challenge": "<the challenge sent>"}.',
            )
        ]
    return []


def run_test_step(*, version_id: Any) -> bool:
    """Connector manifests rehearsed by the connector framework's declarative runner on their recorded
    responses (the older descriptive format: its schema only), workflow definitions against their schema
    and known connectors, app URLs through the registration handshake."""
    version = _claim(version_id, (VersionStatus.TESTING,), VersionStatus.TESTING)
    if version is None:
        return False
    package = _package(version)
    manifest = manifest_of(package)
    findings: list[rules.Finding] = []
    if manifest is not None:
        if manifest.type == ExtensionType.CONNECTOR:
            name, text, document, error = payload_of(package, manifest)
            if error:
                findings.append(rules.Finding("MKT-T001", f"The connector manifest is {error}.", file=name))
            elif name is not None:
                findings.extend(exercise_connector_manifest(document, file=name, text=text or "", package=package))
        elif manifest.type in APP_TYPES and manifest.app is not None:
            findings.extend(handshake_findings(str(manifest.app.registration_url)))
        else:
            findings.extend(rules.check_payload(package, _context(version)))
    return _finish_step(version, "test", findings, VersionStatus.TESTING, effective_modes())


def certify_version(*, version_id: Any, operator_release: bool = False) -> bool:
    """Sign the package and mark the version passed; certified when no rule, even monitor-only, found an error."""
    with transaction.atomic():
        version = ExtensionVersion.objects.select_for_update().select_related("extension").filter(pk=version_id).first()
        if version is None or version.status != VersionStatus.TESTING:
            return False
        steps = dict(version.steps)
        if not operator_release and steps.get("test", {}).get("status") != "passed":
            return False
        clean = not any(f.get("severity") == rules.Severity.ERROR for f in version.findings)
        version.signature = signing.sign_digest(version.sha256)
        version.signing_key_id = signing.key_id()
        version.certified_at = timezone.now() if clean and not operator_release else None
        version.status = VersionStatus.PASSED
        steps["certify"] = {
            "status": "passed",
            "at": timezone.now().isoformat(),
            "certified": bool(version.certified_at),
        }
        version.steps = steps
        version.save(update_fields=["signature", "signing_key_id", "certified_at", "status", "steps", "updated_at"])
        record_audit_event(
            actor=None,
            action="marketplace.version_passed",
            target=version,
            organization=version.extension.publisher.organization_id,
            data={"certified": bool(version.certified_at), "sha256": version.sha256},
        )
    return True


def publish_version(*, version_id: Any, actor: Any = None, explicit: bool = False) -> bool:
    """Make a passed version installable; installations get it as an update (or a consent request)."""
    from apps.marketplace.services.catalog import refresh_extension_listing
    from apps.marketplace.services.installations import offer_update

    with transaction.atomic():
        version = ExtensionVersion.objects.select_for_update().select_related("extension").filter(pk=version_id).first()
        if version is None or version.status != VersionStatus.PASSED or not (version.auto_publish or explicit):
            return False
        version.status = VersionStatus.PUBLISHED
        version.published_at = version.published_at or timezone.now()
        steps = dict(version.steps)
        steps["publish"] = {"status": "passed", "at": timezone.now().isoformat()}
        version.steps = steps
        version.save(update_fields=["status", "published_at", "steps", "updated_at"])
        record_audit_event(
            actor=actor,
            action="marketplace.version_published",
            target=version,
            organization=version.extension.publisher.organization_id,
            data={"version": version.version},
        )
        extension = refresh_extension_listing(extension=version.extension)
        # Paid plans of the version reach Stripe (Product and Prices) after commit.
        from apps.billing.services import schedule_billing_plan_sync

        schedule_billing_plan_sync(version=version)
        if extension.latest_version_id == version.pk:
            for installation in version.extension.installations.exclude(version=version).filter(
                status__in=("active", "disabled")
            ):
                offer_update(installation=installation, version=version)
    return True


def start_pipeline(*, version: ExtensionVersion) -> None:
    """Queue the chain for a freshly uploaded version once its row is committed."""
    from apps.marketplace.tasks import pipeline_chain

    version_id = str(version.pk)
    transaction.on_commit(lambda: pipeline_chain(version_id).delay())


# -- Rescans -------------------------------------------------------------------------------------------


def rescan_published_versions(*, force: bool = False) -> int:
    """Re-run validate, scan and the static tests on published versions checked under other rules.

    A version that a rule now blocks is quarantined (held for an operator), never silently yanked.
    Returns how many versions were rescanned.
    """
    from apps.marketplace.services.catalog import refresh_extension_listing

    modes = effective_modes()
    fingerprint = ruleset_fingerprint(modes)
    stale = ExtensionVersion.objects.filter(status=VersionStatus.PUBLISHED).select_related("extension")
    if not force:
        stale = stale.exclude(ruleset_fingerprint=fingerprint)
    count = 0
    for version in stale.iterator():
        count += 1
        package = _package(version)
        context = _context(version, for_rescan=True)
        found = [
            *[_record(f, "validate", modes) for f in rules.validate_package(package, context)],
            *[_record(f, "scan", modes) for f in rules.scan_package(package, context)],
            *[_record(f, "test", modes) for f in rules.check_payload(package, context)],
        ]
        blocking = [f for f in found if f["blocking"]]
        with transaction.atomic():
            version.findings = [f for f in version.findings if f.get("step") not in ("validate", "scan")] + [
                f for f in found if f["step"] != "test"
            ]
            version.ruleset_fingerprint = fingerprint
            fields = ["findings", "ruleset_fingerprint", "updated_at"]
            if blocking:
                version.status = VersionStatus.QUARANTINED
                version.status_reason = (
                    f"Rescan under changed rules: {blocking[0]['rule_id']}: {blocking[0]['message']}"
                )
                fields += ["status", "status_reason"]
                record_audit_event(
                    actor=None,
                    action="marketplace.version_quarantined_on_rescan",
                    target=version,
                    organization=version.extension.publisher.organization_id,
                    data={"rules": sorted({f["rule_id"] for f in blocking})},
                )
            version.save(update_fields=fields)
            if blocking:
                refresh_extension_listing(extension=version.extension)
    return count
