"""Installing extensions: consent, configuration, activation, updates (with consent when permissions grow),
disable/enable and uninstall. Every step is audited and counted for the publisher's analytics."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from jsonschema import Draft202012Validator

from apps.accounts.models import Organization, User
from apps.accounts.permissions import user_can
from apps.core.exceptions import BusinessRuleViolation, Conflict, NotPermitted
from apps.marketplace import signing
from apps.marketplace.connectors_bridge import OutboundFailed, OutboundRefused, outbound_request
from apps.marketplace.entitlements import check_entitlement
from apps.marketplace.models import (
    EventKind,
    Extension,
    ExtensionVersion,
    Installation,
    InstallationStatus,
    VersionStatus,
)
from apps.marketplace.services.analytics import record_analytics_event
from apps.marketplace.services.catalog import adjust_counters
from apps.marketplace.services.installed_payloads import PayloadUnusable, make_payload_usable, withdraw_payload
from apps.marketplace.services.webhooks import enqueue_webhook
from apps.security.observers import acting_person
from apps.security.services import record_audit_event
from nofx_sdk.rules.manifest import APP_TYPES

TOKEN_PREFIX = "nxi_"  # noqa: S105 - a public prefix that marks install tokens, not a secret
PERMISSION_KINDS = ("scopes", "egress", "dataClasses")


def hash_install_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def permissions_of(version: ExtensionVersion) -> dict[str, list[str]]:
    """The version's requested permissions, normalised (sorted lists of each kind)."""
    raw = version.permissions or {}
    return {kind: sorted({str(v) for v in raw.get(kind) or []}) for kind in PERMISSION_KINDS}


def added_permissions(granted: dict[str, Any], requested: dict[str, list[str]]) -> dict[str, list[str]]:
    """What `requested` asks for beyond `granted`, per kind (empty lists when nothing new)."""
    return {kind: sorted(set(requested.get(kind, [])) - set(granted.get(kind) or [])) for kind in PERMISSION_KINDS}


def ungrantable_scopes(*, actor: User, organization: Organization, scopes: list[str]) -> list[str]:
    """Scopes the actor does not hold themselves, and so cannot grant to an extension."""
    return [scope for scope in scopes if not user_can(actor, scope, organization)]


def _require_consent(
    *, actor: User, organization: Organization, requested: dict[str, list[str]], accepted: dict[str, Any] | None
) -> None:
    accepted_norm = {kind: sorted({str(v) for v in (accepted or {}).get(kind) or []}) for kind in PERMISSION_KINDS}
    if accepted_norm != requested:
        raise BusinessRuleViolation(
            "Consent must name exactly the permissions the version asks for; reload the consent screen.",
            field="accepted_permissions",
            code="consent_mismatch",
        )
    missing = ungrantable_scopes(actor=actor, organization=organization, scopes=requested["scopes"])
    if missing:
        raise NotPermitted(
            f"You cannot grant permissions you do not hold yourself: {', '.join(missing)}.",
            field="accepted_permissions",
            code="cannot_grant",
        )
    if not user_can(actor, "extensions.install", organization):
        raise NotPermitted("Your role cannot install extensions.", code="not_allowed")


def _default_plan(version: ExtensionVersion) -> str:
    plans = ((version.manifest or {}).get("pricing") or {}).get("plans") or []
    free = next((p.get("id") for p in plans if p.get("model") == "free"), None)
    return str(free or (plans[0].get("id") if plans else "free"))


def _entitled(*, organization: Organization, version: ExtensionVersion, plan_id: str) -> None:
    entitlement = check_entitlement(
        organization=organization, extension=version.extension, version=version, plan_id=plan_id
    )
    if not entitlement.allowed:
        raise NotPermitted(entitlement.reason, field="plan", code="entitlement_required")


def split_config(version: ExtensionVersion, config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validate `config` against the version's configSchema; return (plain fields, secret fields)."""
    schema = (version.manifest or {}).get("configSchema")
    if not isinstance(config, dict):
        raise BusinessRuleViolation("The configuration must be an object.", field="config", code="invalid")
    if schema:
        errors = sorted(Draft202012Validator(schema).iter_errors(config), key=lambda e: list(map(str, e.path)))
        if errors:
            flat = [
                {
                    "field": ".".join(["config", *map(str, e.absolute_path)]),
                    "message": e.message,
                    "code": f"config_{e.validator}",
                }
                for e in errors
            ]
            raise BusinessRuleViolation(flat[0]["message"], field=flat[0]["field"], code="invalid_config", errors=flat)
    props = (schema or {}).get("properties") or {}
    secret_names = {name for name, spec in props.items() if isinstance(spec, dict) and spec.get("secret") is True}
    plain = {k: v for k, v in config.items() if k not in secret_names}
    secret = {k: v for k, v in config.items() if k in secret_names}
    return plain, secret


def install_extension(
    *,
    organization: Organization,
    actor: User,
    extension: Extension,
    accepted_permissions: dict[str, Any] | None,
    config: dict[str, Any] | None = None,
    plan_id: str = "",
) -> Installation:
    """Install the extension's latest published version after consent, entitlement and configuration checks;
    activation (registration with the app, or enabling the declarative payload) follows after commit."""
    version = extension.latest_version
    if version is None or version.status != VersionStatus.PUBLISHED or extension.is_delisted:
        raise BusinessRuleViolation("This extension has no installable version.", code="not_installable")
    requested = permissions_of(version)
    _require_consent(actor=actor, organization=organization, requested=requested, accepted=accepted_permissions)
    plan_id = plan_id or _default_plan(version)
    _entitled(organization=organization, version=version, plan_id=plan_id)
    return _create_installation(
        organization=organization,
        actor=actor,
        version=version,
        plan_id=plan_id,
        requested=requested,
        config=config,
    )


def _create_installation(
    *,
    organization: Organization,
    actor: User,
    version: ExtensionVersion,
    plan_id: str,
    requested: dict[str, list[str]],
    config: dict[str, Any] | None,
    audit_data: dict[str, Any] | None = None,
    counted: bool = True,
) -> Installation:
    """Store the installation and activate it (at once for declarative extensions, after commit for apps)."""
    extension = version.extension
    plain, secret = split_config(version, config or {})
    try:
        with transaction.atomic():
            installation = Installation.objects.create(
                organization=organization,
                extension=extension,
                version=version,
                status=InstallationStatus.INSTALLING,
                plan=plan_id,
                granted_permissions=requested,
                config=plain,
                secret_config=secret or None,
                installed_by=acting_person(actor),
                region_code=organization.home_region_code,
                webhook_secret=secrets.token_urlsafe(32),
            )
            record_audit_event(
                actor=actor,
                action="marketplace.extension_installed",
                target=installation,
                organization=organization,
                data={
                    "extension": extension.slug,
                    "version": version.version,
                    "plan": plan_id,
                    "permissions": requested,
                    **(audit_data or {}),
                },
            )
            if counted:
                record_analytics_event(
                    extension=extension, kind=EventKind.INSTALL, version=version, organization=organization
                )
            if extension.type in APP_TYPES:
                # Registration calls the app over the network: never inside the request's transaction.
                from apps.marketplace.tasks import activate_installation_task

                installation_id = str(installation.pk)
                transaction.on_commit(lambda: activate_installation_task.delay(installation_id))
    except IntegrityError as exc:
        raise Conflict("This extension is already installed in the organization.", code="already_installed") from exc
    if extension.type not in APP_TYPES:
        # A declarative extension needs nothing from outside: it is usable at once.
        return activate_installation(installation_id=installation.pk) or installation
    return installation


def install_channel_version(
    *, organization: Organization, actor: User, version: ExtensionVersion, config: dict[str, Any] | None = None
) -> Installation:
    """Install a reviewed version released to a channel (dev, staging) in its publisher's own organization,
    before it is published. Nobody else can install it until it is published."""
    extension = version.extension
    if extension.publisher.organization_id != organization.pk:
        raise NotPermitted("Only the publisher's own organization may install a channel version.", code="not_own")
    if not version.channel or version.status not in (VersionStatus.PASSED, VersionStatus.PUBLISHED):
        raise BusinessRuleViolation(
            "Release a version that passed review to a channel before installing it.", code="not_installable"
        )
    if not user_can(actor, "extensions.install", organization):
        raise NotPermitted("Your role does not allow installing extensions.", code="forbidden")
    return _create_installation(
        organization=organization,
        actor=actor,
        version=version,
        plan_id="",
        requested=permissions_of(version),
        config=config,
        audit_data={"channel": version.channel},
        # The publisher trying its own version is not a customer install.
        counted=False,
    )


def _register_with_app(installation: Installation, token: str) -> str | None:
    """POST the install token and webhook secret to the app's registration URL. None on success, else why."""
    app = (installation.version.manifest or {}).get("app") or {}
    url = app.get("registrationUrl")
    if not url:
        return "the extension declares no registration URL"
    body = json.dumps(
        {
            "type": "nofx.installation",
            "installation_id": str(installation.pk),
            "organization_id": str(installation.organization_id),
            "extension": installation.extension.slug,
            "version": installation.version.version,
            "scopes": installation.granted_permissions.get("scopes", []),
            "token": token,
            "webhook_secret": installation.webhook_secret,
        }
    ).encode()
    # The app has no shared secret yet (it arrives in this very call), so the platform signs with its Ed25519
    # key; the app verifies with the public key from GET /api/v1/extension-signing-key/.
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "Nofx-Timestamp": timestamp,
        "Nofx-Platform-Signature": signing.sign_message(f"{timestamp}.".encode() + body),
    }
    try:
        response = outbound_request("POST", url, body=body, headers=headers, timeout=10)
    except (OutboundRefused, OutboundFailed) as exc:
        return str(exc)
    if not 200 <= response.status < 300:
        return f"the app answered HTTP {response.status}"
    return None


def activate_installation(*, installation_id: Any) -> Installation | None:
    """installing -> active | failed. An app receives its scoped token once, in the registration call; only
    the token's hash is kept. Declarative extensions become usable by the organization at once."""
    installation = (
        Installation.objects.select_related("extension", "version", "organization").filter(pk=installation_id).first()
    )
    if installation is None or installation.status != InstallationStatus.INSTALLING:
        return installation
    failure = None
    token_hash = token_prefix = ""
    if installation.extension.type in APP_TYPES:
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        failure = _register_with_app(installation, token)
        if failure is None:
            token_hash, token_prefix = hash_install_token(token), token[:10]
    with transaction.atomic():
        installation = Installation.objects.select_for_update().get(pk=installation.pk)
        if installation.status != InstallationStatus.INSTALLING:
            return installation
        now = timezone.now()
        if not failure and installation.extension.type not in APP_TYPES:
            failure = _make_usable(installation)
        if failure:
            installation.status = InstallationStatus.FAILED
            installation.status_reason = (
                f"Registration with the extension failed: {failure}"
                if installation.extension.type in APP_TYPES
                else f"The extension could not be made usable: {failure}"
            )
        else:
            installation.status = InstallationStatus.ACTIVE
            installation.status_reason = ""
            installation.activated_at = now
            installation.token_hash = token_hash
            installation.token_prefix = token_prefix
            installation.token_issued_at = now if token_hash else None
        installation.save()
        record_audit_event(
            actor=None,
            action="marketplace.installation_failed" if failure else "marketplace.installation_activated",
            target=installation,
            data={"extension": installation.extension.slug},
        )
        if not failure:
            adjust_counters(extension_id=installation.extension_id, active=1, total=1)
            enqueue_webhook(installation=installation, event="installation.created", data={})
    return installation


def _make_usable(installation: Installation) -> str | None:
    """Register the declarative payload for the organization; None on success, else why it failed."""
    try:
        # A savepoint: a refused payload leaves nothing half-registered, and the installation still fails.
        with transaction.atomic():
            make_payload_usable(installation=installation)
    except PayloadUnusable as exc:
        return str(exc)
    return None


def retry_installation(*, installation: Installation, actor: User) -> Installation:
    """failed -> installing again (the registration call is repeated)."""
    if installation.status != InstallationStatus.FAILED:
        raise Conflict("Only a failed installation can be retried.", code="not_failed")
    with transaction.atomic():
        installation.status = InstallationStatus.INSTALLING
        installation.save(update_fields=["status", "updated_at"])
        record_audit_event(actor=actor, action="marketplace.installation_retried", target=installation)
        from apps.marketplace.tasks import activate_installation_task

        installation_id = str(installation.pk)
        transaction.on_commit(lambda: activate_installation_task.delay(installation_id))
    return installation


def configure_installation(*, installation: Installation, actor: User, config: dict[str, Any]) -> Installation:
    """Replace the configuration (validated against the installed version's configSchema). Secret fields left
    out keep their stored value, so a form never has to show a secret back."""
    if installation.status == InstallationStatus.UNINSTALLED:
        raise Conflict("The extension is uninstalled.", code="uninstalled")
    stored_secrets: dict[str, Any] = installation.secret_config or {}
    merged = {**stored_secrets, **(config or {})}
    plain, secret = split_config(installation.version, merged)
    with transaction.atomic():
        installation.config = plain
        installation.secret_config = secret or None
        installation.save(update_fields=["config", "secret_config", "updated_at"])
        record_audit_event(
            actor=actor,
            action="marketplace.installation_configured",
            target=installation,
            data={"fields": sorted(plain), "secret_fields": sorted(secret)},
        )
        enqueue_webhook(installation=installation, event="installation.configured", data={"config": plain})
    return installation


def disable_installation(*, installation: Installation, actor: User | None, reason: str = "") -> Installation:
    """active -> disabled: the extension stops receiving events and its token stops working."""
    if installation.status not in (InstallationStatus.ACTIVE, InstallationStatus.FAILED):
        raise Conflict("Only an active or failed installation can be disabled.", code="not_active")
    with transaction.atomic():
        was_active = installation.status == InstallationStatus.ACTIVE
        installation.status = InstallationStatus.DISABLED
        installation.status_reason = reason
        installation.disabled_at = timezone.now()
        installation.save(update_fields=["status", "status_reason", "disabled_at", "updated_at"])
        record_audit_event(actor=actor, action="marketplace.installation_disabled", target=installation)
        if was_active:
            adjust_counters(extension_id=installation.extension_id, active=-1)
    return installation


def enable_installation(*, installation: Installation, actor: User) -> Installation:
    """disabled -> active, after checking the entitlement again."""
    if installation.status != InstallationStatus.DISABLED:
        raise Conflict("Only a disabled installation can be enabled.", code="not_disabled")
    _entitled(organization=installation.organization, version=installation.version, plan_id=installation.plan)
    with transaction.atomic():
        installation.status = InstallationStatus.ACTIVE
        installation.status_reason = ""
        installation.disabled_at = None
        installation.save(update_fields=["status", "status_reason", "disabled_at", "updated_at"])
        record_audit_event(actor=actor, action="marketplace.installation_enabled", target=installation)
        adjust_counters(extension_id=installation.extension_id, active=1)
        enqueue_webhook(installation=installation, event="installation.enabled", data={})
    return installation


def uninstall_installation(*, installation: Installation, actor: User) -> Installation:
    """Any state -> uninstalled: the token is revoked and the app told once."""
    if installation.status == InstallationStatus.UNINSTALLED:
        raise Conflict("The extension is already uninstalled.", code="uninstalled")
    with transaction.atomic():
        was_active = installation.status == InstallationStatus.ACTIVE
        enqueue_webhook(installation=installation, event="installation.uninstalled", data={}, force=True)
        installation.status = InstallationStatus.UNINSTALLED
        installation.uninstalled_at = timezone.now()
        installation.token_hash = ""
        installation.pending_version = None
        installation.save(update_fields=["status", "uninstalled_at", "token_hash", "pending_version", "updated_at"])
        withdraw_payload(installation=installation)
        record_audit_event(actor=actor, action="marketplace.extension_uninstalled", target=installation)
        record_analytics_event(
            extension=installation.extension,
            kind=EventKind.UNINSTALL,
            version=installation.version,
            organization=installation.organization,
        )
        if was_active:
            adjust_counters(extension_id=installation.extension_id, active=-1)
    return installation


def offer_update(*, installation: Installation, version: ExtensionVersion) -> Installation:
    """A newer published version: applied at once when it asks for no new permissions (and the plan still
    entitles it); otherwise it waits for an admin's consent while the installed version keeps running."""
    from nofx_sdk.rules.semver import Version

    if Version.parse(version.version) <= Version.parse(installation.version.version):
        return installation
    added = added_permissions(installation.granted_permissions, permissions_of(version))
    entitlement = check_entitlement(
        organization=installation.organization,
        extension=installation.extension,
        version=version,
        plan_id=installation.plan,
    )
    with transaction.atomic():
        if any(added.values()) or not entitlement.allowed:
            installation.pending_version = version
            installation.status_reason = (
                "A new version asks for more permissions and waits for an admin's consent."
                if any(added.values())
                else f"A new version is available but not covered by the plan: {entitlement.reason}"
            )
            installation.save(update_fields=["pending_version", "status_reason", "updated_at"])
            record_audit_event(
                actor=None,
                action="marketplace.update_awaits_consent",
                target=installation,
                data={"version": version.version, "added": added},
            )
            return installation
        _apply_update(installation, version, actor=None)
    return installation


def _apply_update(installation: Installation, version: ExtensionVersion, actor: User | None) -> None:
    previous = installation.version.version
    installation.version = version
    installation.pending_version = None
    installation.status_reason = ""
    # Least privilege: what the running version asks for, so a permission dropped and later re-added
    # needs consent again.
    installation.granted_permissions = permissions_of(version)
    if installation.status == InstallationStatus.ACTIVE and installation.extension.type not in APP_TYPES:
        # The new version's manifest replaces the registered one; a refusal keeps the running one and says so.
        failure = _make_usable(installation)
        if failure:
            installation.status_reason = f"The new version could not be made usable: {failure}"
    installation.save(
        update_fields=["version", "pending_version", "status_reason", "granted_permissions", "updated_at"]
    )
    record_audit_event(
        actor=actor,
        action="marketplace.installation_updated",
        target=installation,
        data={"from": previous, "to": version.version},
    )
    record_analytics_event(
        extension=installation.extension, kind=EventKind.UPDATE, version=version, organization=installation.organization
    )
    enqueue_webhook(
        installation=installation, event="installation.updated", data={"from": previous, "to": version.version}
    )


def approve_update(
    *, installation: Installation, actor: User, accepted_permissions: dict[str, Any] | None
) -> Installation:
    """An admin consents to the permissions of the pending version; the installation moves to it."""
    version = installation.pending_version
    if version is None:
        raise Conflict("No update is waiting for consent.", code="no_pending_update")
    if version.status != VersionStatus.PUBLISHED:
        raise Conflict("The pending version is no longer published.", code="not_installable")
    _require_consent(
        actor=actor,
        organization=installation.organization,
        requested=permissions_of(version),
        accepted=accepted_permissions,
    )
    _entitled(organization=installation.organization, version=version, plan_id=installation.plan)
    with transaction.atomic():
        record_audit_event(
            actor=actor,
            action="marketplace.update_consented",
            target=installation,
            data={"version": version.version, "permissions": permissions_of(version)},
        )
        _apply_update(installation, version, actor)
    return installation
