"""Every write of the connectors app: connectors, credentials, manifests, webhooks, health, notifications."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from apps.accounts.models import Organization
from apps.accounts.permissions import user_can
from apps.connectors import selectors
from apps.connectors.connections import provider_for
from apps.connectors.errors import (
    ActionInputInvalid,
    AddressRefused,
    ConfigInvalid,
    ConnectorError,
    WebhookRejected,
)
from apps.connectors.manifests import validate_manifest
from apps.connectors.models import (
    Connector,
    ConnectorHealthSample,
    ConnectorManifest,
    ConnectorStatus,
    ConnectorType,
    DeliveryStatus,
    NotificationRoute,
    WebhookDelivery,
)
from apps.connectors.policies import RateLimitPolicy, RetryPolicy
from apps.connectors.providers import get_provider_class
from apps.connectors.providers.base import (
    ConnectionCheck,
    InboundRequest,
    Notification,
    Provider,
    ProviderConfig,
    WebhookReply,
    schema_errors,
)
from apps.connectors.transport import check_url_allowed
from apps.core.exceptions import BusinessRuleViolation, Conflict, NotPermitted
from apps.security.observers import observe_person_after_commit, observe_quietly
from apps.security.services import (
    observe_deletion,
    observe_webhook_signature_failure,
    record_audit_event,
    record_audit_event_later,
)

logger = logging.getLogger(__name__)

# Health checks that fail this many times in a row turn a connector from degraded to failing.
FAILING_AFTER = 3
# Header names whose values are secrets: never stored with a webhook delivery.
SECRET_HEADER_MARKERS = ("authorization", "token", "secret", "cookie", "api-key", "apikey")


class ConfigurationRejected(BusinessRuleViolation):
    """A connector or manifest configuration failed validation; `errors` names every offending field."""

    def __init__(self, message: str, *, errors: list[dict[str, Any]]) -> None:
        first = errors[0] if errors else {}
        super().__init__(message, code="config_invalid", field=first.get("field"))
        self.errors = errors


# -- Connectors -----------------------------------------------------------------------------------------------


def _provider_class(provider: str, manifest: ConnectorManifest | None) -> type[Provider]:
    try:
        provider_class = get_provider_class(provider)
    except ConfigInvalid as exc:
        raise ConfigurationRejected(exc.message, errors=exc.errors) from exc
    if provider == "custom" and manifest is None:
        raise ConfigurationRejected(
            "A custom connector needs a manifest.",
            errors=[{"field": "manifest", "message": "Required for custom connectors.", "code": "required"}],
        )
    if provider != "custom" and manifest is not None:
        raise ConfigurationRejected(
            "Only custom connectors take a manifest.",
            errors=[{"field": "manifest", "message": "Leave empty for this provider.", "code": "invalid"}],
        )
    return provider_class


def _validated(
    provider_class: type[Provider],
    manifest: ConnectorManifest | None,
    *,
    base_url: str,
    settings_: dict[str, Any],
    credentials: dict[str, Any],
) -> ProviderConfig:
    try:
        if manifest is not None:
            from apps.connectors.providers.declarative import ManifestProvider

            config = ManifestProvider.validate_manifest_config(
                manifest.document, base_url=base_url, settings=settings_, credentials=credentials
            )
        else:
            config = provider_class.validate_config(base_url=base_url, settings=settings_, credentials=credentials)
        check_url_allowed(config.base_url)
    except ConfigInvalid as exc:
        raise ConfigurationRejected(exc.message, errors=exc.errors) from exc
    except AddressRefused as exc:
        raise ConfigurationRejected(
            exc.message, errors=[{"field": "base_url", "message": exc.message, "code": exc.code}]
        ) from exc
    return config


def _policies(
    rate_limit: dict[str, Any] | None, retry_policy: dict[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        return RateLimitPolicy.from_dict(rate_limit).to_dict(), RetryPolicy.from_dict(retry_policy).to_dict()
    except ConfigInvalid as exc:
        raise ConfigurationRejected(exc.message, errors=exc.errors) from exc


def _capabilities(
    provider_class: type[Provider], manifest: ConnectorManifest | None, wanted: list[str] | None
) -> list[str]:
    if manifest is not None:
        available = [a["name"] for a in manifest.document.get("actions", [])]
    else:
        available = [a.name for a in provider_class.action_list]
    if wanted is None:
        return available
    unknown = sorted(set(wanted) - set(available))
    if unknown:
        raise ConfigurationRejected(
            "Unknown capabilities.",
            errors=[
                {
                    "field": "capabilities",
                    "message": f"Not actions of this provider: {', '.join(unknown)}.",
                    "code": "invalid_choice",
                }
            ],
        )
    return [name for name in available if name in wanted]


def create_connector(
    *,
    organization: Organization,
    actor: Any,
    name: str,
    provider: str,
    base_url: str = "",
    settings_: dict[str, Any] | None = None,
    credentials: dict[str, Any] | None = None,
    manifest: ConnectorManifest | None = None,
    connector_type: str = "",
    capabilities: list[str] | None = None,
    rate_limit: dict[str, Any] | None = None,
    retry_policy: dict[str, Any] | None = None,
    timeout_seconds: float = 30.0,
    data_region: str = "",
    data_country: str = "",
) -> Connector:
    """Connect an organization to an external system and schedule its first health check."""
    name = name.strip()
    if not name:
        raise BusinessRuleViolation("A connector needs a name.", field="name", code="required")
    if manifest is not None and manifest.organization_id != organization.pk:
        raise BusinessRuleViolation("No such manifest.", field="manifest", code="does_not_exist")
    if manifest is not None and not manifest.is_active:
        raise BusinessRuleViolation(
            "This manifest's extension was uninstalled; install it again to use it.",
            field="manifest",
            code="manifest_inactive",
        )
    provider_class = _provider_class(provider, manifest)
    config = _validated(
        provider_class, manifest, base_url=base_url, settings_=settings_ or {}, credentials=credentials or {}
    )
    rate, retry = _policies(rate_limit, retry_policy)
    if Connector.objects.filter(organization=organization, name=name).exists():
        raise BusinessRuleViolation("A connector with that name exists.", field="name", code="name_taken")
    with transaction.atomic():
        connector = Connector.objects.create(
            organization=organization,
            name=name,
            provider=provider,
            manifest=manifest,
            connector_type=connector_type or provider_class.connector_type or ConnectorType.REST,
            base_url=config.base_url,
            settings=config.settings,
            credentials=config.credentials,
            credentials_rotated_at=timezone.now(),
            capabilities=_capabilities(provider_class, manifest, capabilities),
            rate_limit=rate,
            retry_policy=retry,
            timeout_seconds=timeout_seconds,
            data_region=data_region,
            data_country=data_country.upper(),
        )
        record_audit_event(
            actor=actor,
            action="connectors.connector_created",
            target=connector,
            data={"provider": provider, "credential_fields": connector.credential_fields},
        )
        transaction.on_commit(lambda: _queue_health_check(connector.pk))
    return connector


def _queue_health_check(connector_id: Any) -> None:
    from apps.connectors.tasks import check_connector_health_task

    check_connector_health_task.delay(str(connector_id))


UPDATABLE_FIELDS = (
    "name",
    "base_url",
    "settings",
    "capabilities",
    "rate_limit",
    "retry_policy",
    "timeout_seconds",
    "data_region",
    "data_country",
)


def update_connector(*, connector: Connector, actor: Any, **changes: Any) -> Connector:
    """Change a connector's configuration (credentials change only through `rotate_connector_credentials`)."""
    unknown = set(changes) - set(UPDATABLE_FIELDS)
    if unknown:
        raise BusinessRuleViolation(f"Cannot change {', '.join(sorted(unknown))} here.", code="not_updatable")
    provider_class = _provider_class(connector.provider, connector.manifest)
    if "name" in changes:
        changes["name"] = str(changes["name"]).strip()
        taken = Connector.objects.filter(organization_id=connector.organization_id, name=changes["name"])
        if not changes["name"] or taken.exclude(pk=connector.pk).exists():
            raise BusinessRuleViolation("Choose another name.", field="name", code="name_taken")
    if "base_url" in changes or "settings" in changes:
        config = _validated(
            provider_class,
            connector.manifest,
            base_url=changes.get("base_url", connector.base_url),
            settings_=changes.get("settings", connector.settings),
            credentials=connector.credentials or {},
        )
        changes["base_url"], changes["settings"] = config.base_url, config.settings
    if "rate_limit" in changes or "retry_policy" in changes:
        changes["rate_limit"], changes["retry_policy"] = _policies(
            changes.get("rate_limit", connector.rate_limit), changes.get("retry_policy", connector.retry_policy)
        )
    if "capabilities" in changes:
        changes["capabilities"] = _capabilities(provider_class, connector.manifest, changes["capabilities"])
    if "data_country" in changes:
        changes["data_country"] = str(changes["data_country"]).upper()
    changed = sorted(k for k, v in changes.items() if getattr(connector, k) != v)
    if not changed:
        return connector
    with transaction.atomic():
        for key in changed:
            setattr(connector, key, changes[key])
        connector.save(update_fields=[*changed, "updated_at"])
        record_audit_event(
            actor=actor, action="connectors.connector_updated", target=connector, data={"fields": changed}
        )
    return connector


def rotate_connector_credentials(
    *, connector: Connector, actor: Any, credentials: dict[str, Any], merge: bool = False
) -> Connector:
    """Replace (or, with `merge`, amend) a connector's secrets after the provider accepts them."""
    with transaction.atomic():
        locked = Connector.objects.select_for_update(of=("self",)).select_related("manifest").get(pk=connector.pk)
        new = {**(locked.credentials or {}), **credentials} if merge else dict(credentials)
        provider_class = _provider_class(locked.provider, locked.manifest)
        config = _validated(
            provider_class, locked.manifest, base_url=locked.base_url, settings_=locked.settings, credentials=new
        )
        locked.credentials = config.credentials
        locked.credentials_rotated_at = timezone.now()
        locked.save(update_fields=["credentials", "credentials_rotated_at", "updated_at"])
        record_audit_event(
            actor=actor,
            action="connectors.credentials_rotated",
            target=locked,
            data={"credential_fields": sorted(credentials), "merge": merge},
        )
    connector.credentials, connector.credentials_rotated_at = locked.credentials, locked.credentials_rotated_at
    return connector


def write_refreshed_credentials(
    *, connector_id: Any, update: Callable[[dict[str, Any]], dict[str, Any]]
) -> dict[str, Any]:
    """Store tokens the vendor just rotated (OAuth2 refresh), atomically against other workers."""
    with transaction.atomic():
        locked = Connector.objects.select_for_update().get(pk=connector_id)
        before = dict(locked.credentials or {})
        after = update(dict(before))
        locked.credentials = after
        locked.credentials_rotated_at = timezone.now()
        locked.save(update_fields=["credentials", "credentials_rotated_at", "updated_at"])
        record_audit_event(
            actor=None,
            action="connectors.token_refreshed",
            target=locked,
            data={"rotated": sorted(k for k in after if after.get(k) != before.get(k))},
        )
    return after


class ConnectorInUse(Conflict):
    """Integration workflows read from or write to the connector; it cannot go while they exist."""

    def __init__(self, connector: Connector, workflows: list[tuple[str, str]]) -> None:
        names = ", ".join(f"'{name}'" for _pk, name in workflows)
        super().__init__(
            f"The connector '{connector.name}' is used by the workflows {names}; delete them or point them at "
            "another connector first.",
            code="connector_in_use",
            errors=[{"field": "workflows", "message": name, "code": "in_use", "id": pk} for pk, name in workflows],
        )
        self.workflows = workflows


def delete_connector(*, connector: Connector, actor: Any) -> None:
    """Delete a connector nothing depends on; ConnectorInUse (409) names the workflows that still use it."""
    with transaction.atomic():
        # Lock the row so a workflow created in the meantime cannot slip in between the check and the
        # delete (the foreign keys would then refuse with an unexplained ProtectedError).
        locked = Connector.objects.select_for_update().get(pk=connector.pk)
        workflows = sorted(
            {
                (str(pk), name)
                for related in (locked.source_workflows, locked.target_workflows)
                for pk, name in related.values_list("pk", "name")
            },
            key=lambda item: item[1],
        )
        if workflows:
            raise ConnectorInUse(locked, workflows)
        record_audit_event(
            actor=actor, action="connectors.connector_deleted", target=locked, data={"provider": locked.provider}
        )
        observe_person_after_commit(
            observe_deletion,
            user=actor,
            organization=locked.organization,
            resource_type="connectors.connector",
            records=1,
        )
        locked.delete()


def set_connector_paused(*, connector: Connector, actor: Any, paused: bool) -> Connector:
    """Pause (no calls, webhooks refused) or resume a connector."""
    status = ConnectorStatus.PAUSED if paused else ConnectorStatus.ACTIVE
    if connector.status == status:
        return connector
    with transaction.atomic():
        connector.status = status
        connector.status_reason = "Paused by an operator." if paused else ""
        connector.save(update_fields=["status", "status_reason", "updated_at"])
        record_audit_event(
            actor=actor,
            action="connectors.connector_paused" if paused else "connectors.connector_resumed",
            target=connector,
        )
    return connector


def mark_connector_synced(*, connector: Connector, at: Any = None) -> None:
    """Called by the sync engine after a run that read or wrote through this connector."""
    Connector.objects.filter(pk=connector.pk).update(last_sync_at=at or timezone.now())


# -- Health ---------------------------------------------------------------------------------------------------


def check_connector_health(*, connector: Connector) -> ConnectorHealthSample:
    """Test the connection once, keep the sample, and move the connector's status accordingly."""
    if connector.is_paused:
        raise BusinessRuleViolation("The connector is paused.", code="connector_paused")
    try:
        with provider_for(connector) as provider:
            check = provider.test_connection()
    except ConnectorError as exc:
        check = ConnectionCheck(False, 0.0, exc.status, exc.code, exc.message)
    return record_health_sample(connector=connector, check=check)


def record_health_sample(*, connector: Connector, check: ConnectionCheck) -> ConnectorHealthSample:
    now = timezone.now()
    with transaction.atomic():
        sample = ConnectorHealthSample.objects.create(
            connector=connector,
            checked_at=now,
            ok=check.ok,
            latency_ms=round(check.latency_ms, 2),
            status_code=check.status_code,
            error_code=check.error_code[:60],
            detail=check.detail[:300],
        )
        locked = Connector.objects.select_for_update().get(pk=connector.pk)
        previous = locked.status
        if locked.status != ConnectorStatus.PAUSED:
            if check.ok:
                locked.status, locked.status_reason = ConnectorStatus.ACTIVE, ""
            else:
                recent = list(
                    ConnectorHealthSample.objects.filter(connector=connector)
                    .order_by("-checked_at")
                    .values_list("ok", flat=True)[:FAILING_AFTER]
                )
                failing = check.error_code == "authentication_failed" or (
                    len(recent) >= FAILING_AFTER and not any(recent)
                )
                locked.status = ConnectorStatus.FAILING if failing else ConnectorStatus.DEGRADED
                locked.status_reason = (check.detail or check.error_code)[:300]
        locked.last_checked_at = now
        locked.save(update_fields=["status", "status_reason", "last_checked_at", "updated_at"])
        if locked.status != previous:
            record_audit_event(
                actor=None,
                action="connectors.status_changed",
                target=locked,
                data={"from": previous, "to": locked.status, "error_code": check.error_code},
            )
    connector.status, connector.status_reason, connector.last_checked_at = (
        locked.status,
        locked.status_reason,
        locked.last_checked_at,
    )
    if locked.status != previous and locked.status == ConnectorStatus.FAILING:
        notify_organization(
            organization_id=connector.organization_id,
            event_type="connectors.connector_failing",
            notification=Notification(
                title=f"Connector {connector.name} is failing",
                text=locked.status_reason or "Its health checks keep failing.",
                severity="error",
                facts=(("Provider", connector.provider),),
            ),
        )
    return sample


def prune_connector_history(*, keep_days: int = 35) -> tuple[int, int]:
    """Drop health samples and webhook deliveries older than the longest window we report on."""
    cutoff = timezone.now() - timedelta(days=keep_days)
    samples, _ = ConnectorHealthSample.objects.filter(checked_at__lt=cutoff).delete()
    deliveries, _ = WebhookDelivery.objects.filter(received_at__lt=cutoff).delete()
    return samples, deliveries


# -- Actions --------------------------------------------------------------------------------------------------


def invoke_connector_action(
    *, connector: Connector, action: str, payload: dict[str, Any], actor: Any, authorized: bool = False
) -> dict[str, Any]:
    """Run one capability of a connector with validated input, and return its validated output.

    The caller either passes `authorized=True` (it checked its own scopes, e.g. the API gateway) or the
    actor must hold the permission the action names.
    """
    if connector.is_paused:
        raise BusinessRuleViolation("The connector is paused.", code="connector_paused")
    if action not in (connector.capabilities or []):
        raise BusinessRuleViolation(f"This connector does not offer {action!r}.", field="action", code="unknown_action")
    with provider_for(connector) as provider:
        spec = provider.action(action)
        if not authorized and not user_can(actor, spec.permission, connector.organization, obj=connector):
            raise NotPermitted(f"Running {action} needs the {spec.permission} permission.", code="permission_denied")
        errors = schema_errors(spec.input_schema, payload, prefix="input")
        if errors:
            raise ActionInputInvalid("The input does not match the action's schema.", errors=errors)
        result = provider.invoke(action, payload)
    # The vendor has done it: the record of it cannot be atomic with it. Through the gateway it is written
    # once the caller has its answer, in a batch; anywhere else, now.
    record_audit_event_later(
        actor=actor,
        action="connectors.action_invoked",
        target=connector,
        data={"action": action, "input_fields": sorted(payload)},
    )
    output_errors = schema_errors(spec.output_schema, result)
    if output_errors:
        logger.error("Action %s of %s returned output off its schema: %s", action, connector.provider, output_errors)
        raise ConnectorError(f"{action} returned an answer that does not match its output schema.")
    return result


# -- Manifests ------------------------------------------------------------------------------------------------


def save_connector_manifest(
    *, organization: Organization, actor: Any, document: dict[str, Any], manifest: ConnectorManifest | None = None
) -> ConnectorManifest:
    """Create or replace a declarative connector definition after it passes the published schema."""
    errors = validate_manifest(document)
    if errors:
        raise ConfigurationRejected("The manifest is not valid.", errors=errors)
    digest = hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()
    name = document["name"]
    clash = ConnectorManifest.objects.filter(organization=organization, name=name)
    if manifest is not None:
        clash = clash.exclude(pk=manifest.pk)
    if clash.exists():
        raise BusinessRuleViolation("A manifest with that name exists.", field="name", code="name_taken")
    with transaction.atomic():
        if manifest is None:
            manifest = ConnectorManifest(organization=organization)
        manifest.name = name
        manifest.title = document.get("title", name)
        manifest.version = document.get("version", "1.0.0")
        manifest.document = document
        manifest.document_sha256 = digest
        manifest.save()
        record_audit_event(
            actor=actor,
            action="connectors.manifest_saved",
            target=manifest,
            data={"name": name, "version": manifest.version, "sha256": digest},
        )
    return manifest


def register_installed_manifest(
    *, organization: Organization, document: dict[str, Any], installed_from: str
) -> ConnectorManifest:
    """Make a manifest an installed extension ships usable by the organization (create, or refresh and
    reactivate the one this installation registered before).

    ConfigurationRejected when the document is not a valid manifest; name_taken when the organization
    already has a manifest of that name it wrote itself or got from another installation.
    """
    with transaction.atomic():
        existing = (
            ConnectorManifest.objects.select_for_update()
            .filter(organization=organization, name=str(document.get("name", "")))
            .first()
        )
        # An inactive manifest left by an earlier, uninstalled installation is taken over (a reinstall);
        # one the organization wrote, or an active one of another installation, is not.
        taken_over = existing is not None and bool(existing.installed_from) and not existing.is_active
        if existing is not None and existing.installed_from != installed_from and not taken_over:
            raise BusinessRuleViolation(
                f"The organization already has a connector manifest named {existing.name!r}.",
                field="name",
                code="name_taken",
            )
        manifest = save_connector_manifest(organization=organization, actor=None, document=document, manifest=existing)
        manifest.installed_from = installed_from
        manifest.is_active = True
        manifest.save(update_fields=["installed_from", "is_active", "updated_at"])
        record_audit_event(
            actor=None,
            action="connectors.manifest_installed",
            target=manifest,
            data={"name": manifest.name, "installed_from": installed_from},
        )
    return manifest


def deactivate_installed_manifests(*, organization: Organization, installed_from: str) -> int:
    """The installation is gone: its manifests take no new connectors and the connectors built on them pause.

    The rows stay (connectors point at them, and a reinstall reactivates them). Returns how many manifests
    were deactivated.
    """
    with transaction.atomic():
        manifests = list(
            ConnectorManifest.objects.select_for_update().filter(
                organization=organization, installed_from=installed_from, is_active=True
            )
        )
        for manifest in manifests:
            manifest.is_active = False
            manifest.save(update_fields=["is_active", "updated_at"])
            record_audit_event(
                actor=None,
                action="connectors.manifest_deactivated",
                target=manifest,
                data={"name": manifest.name, "installed_from": installed_from},
            )
            for connector in Connector.objects.filter(manifest=manifest).exclude(status=ConnectorStatus.PAUSED):
                set_connector_paused(connector=connector, actor=None, paused=True)
                Connector.objects.filter(pk=connector.pk).update(
                    status_reason="Its extension was uninstalled from the marketplace."
                )
    return len(manifests)


def delete_connector_manifest(*, manifest: ConnectorManifest, actor: Any) -> None:
    if manifest.connectors.exists():
        raise BusinessRuleViolation("Connectors still use this manifest.", code="manifest_in_use")
    with transaction.atomic():
        record_audit_event(
            actor=actor, action="connectors.manifest_deleted", target=manifest, data={"name": manifest.name}
        )
        manifest.delete()


# -- Webhooks -------------------------------------------------------------------------------------------------


def _safe_headers(headers: dict[str, str]) -> dict[str, str]:
    return {
        name: ("<redacted>" if any(marker in name for marker in SECRET_HEADER_MARKERS) else value)
        for name, value in headers.items()
    }


def _record_delivery(
    *,
    connector: Connector,
    request: InboundRequest,
    status: str,
    reason: str = "",
    delivery_id: str = "",
    event_type: str = "",
) -> WebhookDelivery:
    return WebhookDelivery.objects.create(
        organization_id=connector.organization_id,
        connector=connector,
        delivery_id=delivery_id[:200],
        event_type=event_type[:120],
        status=status,
        reason=reason[:120],
        received_at=request.received_at,
        remote_addr=request.remote_addr,
        headers=_safe_headers(dict(request.headers)),
        body=request.body.decode("utf-8", "replace"),
        body_sha256=hashlib.sha256(request.body).hexdigest(),
    )


# Refusals that say the sender could not prove who it is (not a malformed body or our own missing set-up).
SIGNATURE_FAILURES = frozenset({"bad_signature", "missing_signature", "stale_timestamp"})


def receive_webhook(*, connector: Connector, request: InboundRequest) -> WebhookReply:
    """Verify and record one inbound delivery, queue its processing, and say what to answer.

    Replays: a signed timestamp outside the replay window is rejected; a delivery id seen before is
    dropped as a duplicate; for vendors whose signature covers no timestamp, a body seen before too.
    Deliveries are high-volume machine traffic, so they are recorded here, not in the audit log.
    """
    if connector.is_paused:
        _record_delivery(
            connector=connector, request=request, status=DeliveryStatus.REJECTED, reason="connector_paused"
        )
        return WebhookReply.json({"detail": "This connector is paused."}, status=409)
    with provider_for(connector) as provider:
        try:
            verified = provider.verify_webhook(request)
            window = settings.CONNECTOR_WEBHOOK_REPLAY_WINDOW
            if (
                verified.signed_at is not None
                and abs((request.received_at - verified.signed_at).total_seconds()) > window
            ):
                raise WebhookRejected("stale_timestamp", "The signed timestamp is outside the replay window.")
        except WebhookRejected as exc:
            _record_delivery(connector=connector, request=request, status=DeliveryStatus.REJECTED, reason=exc.reason)
            if exc.reason in SIGNATURE_FAILURES:
                observe_quietly(
                    observe_webhook_signature_failure,
                    source=f"connector:{connector.pk}",
                    organization=connector.organization,
                    ip=request.remote_addr,
                )
            status = 400 if exc.reason in ("malformed_body", "not_supported") else 401
            return WebhookReply.json({"detail": exc.detail, "reason": exc.reason}, status=status)

        digest = hashlib.sha256(request.body).hexdigest()
        delivery_id = verified.delivery_id or digest
        if verified.kind == "challenge":
            _record_delivery(
                connector=connector,
                request=request,
                status=DeliveryStatus.PROCESSED,
                delivery_id=delivery_id,
                event_type=verified.event_type,
            )
            return verified.reply or WebhookReply.json({"status": "ok"})
        # Without a signed timestamp, an old body re-sent under a new delivery id is also a replay.
        seen_body = (
            verified.signed_at is None
            and WebhookDelivery.objects.filter(
                connector=connector, body_sha256=digest, dedupe_key__isnull=False
            ).exists()
        )
        try:
            if seen_body:
                raise IntegrityError("the same body was delivered before")
            with transaction.atomic():
                delivery = _record_delivery(
                    connector=connector,
                    request=request,
                    status=DeliveryStatus.ACCEPTED,
                    delivery_id=delivery_id,
                    event_type=verified.event_type,
                )
                delivery.dedupe_key = f"{connector.pk}:{delivery_id}"[:300]
                delivery.save(update_fields=["dedupe_key"])
                if verified.kind == "event":
                    transaction.on_commit(lambda: _queue_delivery(delivery.pk))
        except IntegrityError:
            _record_delivery(
                connector=connector,
                request=request,
                status=DeliveryStatus.DUPLICATE,
                reason="replayed_body" if seen_body else "duplicate_delivery_id",
                delivery_id=delivery_id,
                event_type=verified.event_type,
            )
            # Acknowledged (so the vendor stops redelivering), but nothing is queued twice.
            return verified.reply or WebhookReply.json({"status": "duplicate"})
        if verified.kind == "command":
            reply = answer_chat_command(connector=connector, command=verified.command, provider=provider)
            WebhookDelivery.objects.filter(pk=delivery.pk).update(
                status=DeliveryStatus.PROCESSED, processed_at=timezone.now()
            )
            return reply
    return verified.reply or WebhookReply.json({"status": "accepted"}, status=202)


def _queue_delivery(delivery_id: Any) -> None:
    from apps.connectors.tasks import process_webhook_delivery_task

    process_webhook_delivery_task.delay(str(delivery_id))


def process_webhook_delivery(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Parse an accepted delivery into the records it touched and hand it to the registered consumers."""
    if delivery.status != DeliveryStatus.ACCEPTED:
        return delivery  # processed already: tasks may run twice
    connector = delivery.connector
    request = InboundRequest(
        method="POST",
        path="",
        query={},
        headers=delivery.headers,
        body=delivery.body.encode(),
        received_at=delivery.received_at,
    )
    try:
        with provider_for(connector) as provider:
            event = provider.parse_webhook(request)
        delivery.affected = [
            {"object_type": ref.object_type, "id": ref.id, "deleted": ref.deleted} for ref in event.affected
        ]
        for path in settings.CONNECTOR_WEBHOOK_CONSUMERS:
            consumer: Callable[..., None] = import_string(path)
            consumer(delivery=delivery)
        delivery.status = DeliveryStatus.PROCESSED
        delivery.error = ""
    except (ConnectorError, WebhookRejected, ValueError, KeyError, TypeError) as exc:
        logger.warning("Webhook delivery %s could not be processed: %s", delivery.pk, exc)
        delivery.status = DeliveryStatus.FAILED
        delivery.error = f"{type(exc).__name__}: {exc}"[:2000]
    delivery.processed_at = timezone.now()
    delivery.save(update_fields=["affected", "status", "error", "processed_at", "updated_at"])
    return delivery


def answer_chat_command(*, connector: Connector, command: str, provider: Provider) -> WebhookReply:
    """Answer `/nofx status` (Slack) or `@nofx status` (Teams) with the organization's integration health."""
    words = command.strip().lower().split()
    if not words or words[0] != "status":
        summary = "Try `/nofx status` for the health of this organization's integrations."
        return provider.chat_reply(summary=summary, lines=[])
    health = selectors.organization_integration_health(connector.organization_id)
    lines = [
        f"{row['name']} ({row['provider']}): {row['status']}, uptime 24 h {row['uptime_24h']}, "
        f"last sync {row['last_sync_at'] or 'never'}"
        for row in health["connectors"]
    ]
    summary = (
        f"{health['healthy']} of {health['total']} connectors healthy"
        + (f"; {health['failing']} failing" if health["failing"] else "")
        + "."
    )
    return provider.chat_reply(summary=summary, lines=lines)


# -- Notifications --------------------------------------------------------------------------------------------


def create_notification_route(
    *,
    organization: Organization,
    actor: Any,
    name: str,
    connector: Connector,
    channel: str,
    event_types: list[str] | None = None,
    min_severity: str = "info",
) -> NotificationRoute:
    """Send the organization's platform events of the given types to a Slack or Teams channel."""
    if connector.organization_id != organization.pk:
        raise BusinessRuleViolation("No such connector.", field="connector", code="does_not_exist")
    if not get_provider_class(connector.provider).is_notification_channel:
        raise BusinessRuleViolation(
            "Only Slack and Microsoft Teams connectors can carry notifications.",
            field="connector",
            code="not_a_channel",
        )
    if min_severity not in ("info", "warning", "error", "critical"):
        raise BusinessRuleViolation("Unknown severity.", field="min_severity", code="invalid_choice")
    with transaction.atomic():
        route = NotificationRoute.objects.create(
            organization=organization,
            name=name.strip() or channel,
            connector=connector,
            channel=channel.strip(),
            event_types=event_types or ["*"],
            min_severity=min_severity,
        )
        record_audit_event(actor=actor, action="connectors.notification_route_created", target=route)
    return route


def delete_notification_route(*, route: NotificationRoute, actor: Any) -> None:
    with transaction.atomic():
        record_audit_event(actor=actor, action="connectors.notification_route_deleted", target=route)
        route.delete()


def notify_organization(*, organization_id: Any, event_type: str, notification: Notification) -> int:
    """Queue a platform event to every matching channel route of the organization; returns how many."""
    routes = [
        route
        for route in NotificationRoute.objects.filter(organization_id=organization_id, is_active=True)
        if route.wants(event_type, notification.severity)
    ]
    payload = {
        "title": notification.title,
        "text": notification.text,
        "severity": notification.severity,
        "link": notification.link,
        "facts": [list(f) for f in notification.facts],
    }
    for route in routes:
        transaction.on_commit(partial(_queue_notification, route.pk, event_type, payload))
    return len(routes)


def _queue_notification(route_id: Any, event_type: str, payload: dict[str, Any]) -> None:
    from apps.connectors.tasks import deliver_notification_task

    deliver_notification_task.delay(str(route_id), event_type, payload)


def deliver_notification(*, route: NotificationRoute, notification: Notification) -> dict[str, Any]:
    """Post one notification to its channel through the route's connector."""
    with provider_for(route.connector) as provider:
        return provider.post_notification(channel=route.channel, notification=notification)
