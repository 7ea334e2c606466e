"""Every write of the gateway: clients, keys, certificates, and what the security team calls on."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.models import Organization, User
from apps.accounts.permissions import role_of
from apps.accounts.principals import MachinePrincipal
from apps.accounts.roles import PERMISSIONS, role_permissions
from apps.connectors.models import Connector
from apps.connectors.services import invoke_connector_action
from apps.core.exceptions import BusinessRuleViolation, Conflict, NotPermitted
from apps.gateway.credentials import hash_secret, is_signed_by, mint_key, normalise_fingerprint, parse_networks
from apps.gateway.credentials import read_certificate as parse_certificate
from apps.gateway.models import (
    ApiClient,
    ApiKey,
    CertificateAuthority,
    ClientCertificate,
    ClientStatus,
    Plan,
)
from apps.gateway.principals import ClientPrincipal
from apps.gateway.scopes import SCOPES, permissions_of, unknown_scopes
from apps.gateway.selectors import default_plan
from apps.gateway.transforms import TransformError, apply_transform, validate_transform
from apps.regions.services import check_residency
from apps.security.observers import observe_person_after_commit
from apps.security.services import observe_sensitive_action, record_audit_event

logger = logging.getLogger(__name__)

Actor = User | ClientPrincipal

# How long a rotated key keeps working beside its replacement unless the caller says otherwise.
DEFAULT_ROTATION_OVERLAP = timedelta(hours=24)
MAX_ROTATION_OVERLAP = timedelta(days=30)


def _actor_permissions(actor: Actor | None, organization: Organization) -> frozenset[str]:
    if actor is None:
        return frozenset(PERMISSIONS)  # the system itself (tasks, the security team's automated responses)
    if isinstance(actor, MachinePrincipal):
        # An API client or an OAuth app: what its scopes grant, in its own organization.
        return actor.machine_permissions if actor.organization_id == organization.pk else frozenset()
    if actor.is_staff and actor.is_active:
        return frozenset(PERMISSIONS)
    return role_permissions(role_of(actor, organization) or "")


def _check_scopes(scopes: list[str], *, actor: Actor | None, organization: Organization, field: str) -> list[str]:
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise BusinessRuleViolation("Scopes are a list of scope names.", field=field, code="invalid")
    unknown = unknown_scopes(scopes)
    if unknown:
        raise BusinessRuleViolation(f"Unknown scopes: {', '.join(unknown)}.", field=field, code="unknown_scope")
    beyond = permissions_of(scopes) - _actor_permissions(actor, organization)
    if beyond:
        raise NotPermitted(
            "You cannot grant scopes that carry permissions you do not have yourself.", field=field, code="scope_beyond"
        )
    return sorted(set(scopes), key=list(SCOPES).index)


def _check_allowlist(entries: list[str]) -> list[str]:
    if not isinstance(entries, list):
        raise BusinessRuleViolation("The allow-list is a list of CIDR blocks.", field="ip_allowlist", code="invalid")
    try:
        networks = parse_networks(entries)
    except ValueError as exc:
        raise BusinessRuleViolation(str(exc), field="ip_allowlist", code="invalid_cidr") from exc
    return [str(network) for network in networks]


def _check_transform(config: Any, field: str) -> dict[str, Any]:
    problems = validate_transform(config)
    if problems:
        raise BusinessRuleViolation("; ".join(problems[:5]), field=field, code="invalid_transform")
    result: dict[str, Any] = config
    return result


# -- Clients ------------------------------------------------------------------------------------------------


def create_api_client(
    *,
    organization: Organization,
    actor: Actor | None,
    name: str,
    description: str = "",
    owner: User | None = None,
    allowed_scopes: list[str] | None = None,
    ip_allowlist: list[str] | None = None,
    request_transform: dict[str, Any] | None = None,
    response_transform: dict[str, Any] | None = None,
    plan: Plan | None = None,
) -> ApiClient:
    """Register a machine caller for the organization, on the default plan unless an operator names one."""
    name = name.strip()
    if not name:
        raise BusinessRuleViolation("An API client needs a name.", field="name", code="required")
    client = ApiClient(
        organization=organization,
        name=name,
        description=description,
        owner=owner if owner is not None else (actor if isinstance(actor, User) else None),
        plan=plan or default_plan(),
        allowed_scopes=_check_scopes(
            allowed_scopes or [], actor=actor, organization=organization, field="allowed_scopes"
        ),
        ip_allowlist=_check_allowlist(ip_allowlist or []),
        request_transform=_check_transform(request_transform or {}, "request_transform"),
        response_transform=_check_transform(response_transform or {}, "response_transform"),
    )
    try:
        with transaction.atomic():
            client.save()
            record_audit_event(
                actor=actor,
                action="gateway.client_created",
                target=client,
                organization=organization,
                data={"scopes": client.allowed_scopes, "plan": client.plan.slug, "allowlist": client.ip_allowlist},
            )
    except IntegrityError as exc:
        raise Conflict("An API client with this name exists already.", field="name", code="name_taken") from exc
    return client


_UPDATABLE = (
    "name",
    "description",
    "allowed_scopes",
    "ip_allowlist",
    "status",
    "request_transform",
    "response_transform",
)


def update_api_client(*, client: ApiClient, actor: Actor | None, **changes: Any) -> ApiClient:
    """Change a client's settings; narrowing its scopes narrows every key it has at once."""
    unknown = set(changes) - set(_UPDATABLE)
    if unknown:
        raise TypeError(f"Cannot change {sorted(unknown)} of an API client.")
    organization = client.organization
    if "name" in changes:
        changes["name"] = changes["name"].strip()
        if not changes["name"]:
            raise BusinessRuleViolation("An API client needs a name.", field="name", code="required")
    if "allowed_scopes" in changes:
        changes["allowed_scopes"] = _check_scopes(
            changes["allowed_scopes"], actor=actor, organization=organization, field="allowed_scopes"
        )
    if "ip_allowlist" in changes:
        changes["ip_allowlist"] = _check_allowlist(changes["ip_allowlist"])
    for field in ("request_transform", "response_transform"):
        if field in changes:
            changes[field] = _check_transform(changes[field], field)
    if "status" in changes and changes["status"] not in ClientStatus.values:
        raise BusinessRuleViolation("Unknown status.", field="status", code="invalid")
    changed = sorted(f for f, value in changes.items() if getattr(client, f) != value)
    if not changed:
        return client
    for field in changed:
        setattr(client, field, changes[field])
    try:
        with transaction.atomic():
            client.save(update_fields=[*changed, "updated_at"])
            data: dict[str, Any] = {"fields": changed}
            if "status" in changed:
                data["status"] = client.status
            if "allowed_scopes" in changed:
                data["scopes"] = client.allowed_scopes
            record_audit_event(actor=actor, action="gateway.client_updated", target=client, data=data)
    except IntegrityError as exc:
        raise Conflict("An API client with this name exists already.", field="name", code="name_taken") from exc
    return client


# -- API keys -----------------------------------------------------------------------------------------------


def _mint(
    *, client: ApiClient, actor: Actor | None, name: str, scopes: list[str], expires_at: datetime | None
) -> tuple[ApiKey, str]:
    minted = mint_key(settings.GATEWAY_KEY_ENVIRONMENT)
    actor_type, actor_id = (
        ("system", "") if actor is None else (getattr(actor, "audit_actor_type", "user"), str(actor.pk))
    )
    key = ApiKey.objects.create(
        organization=client.organization,
        client=client,
        name=name,
        key_id=minted.key_id,
        environment=minted.environment,
        secret_hash=hash_secret(minted.secret),
        scopes=scopes,
        expires_at=expires_at,
        created_by_type=actor_type,
        created_by_id=actor_id,
    )
    return key, minted.token


def issue_api_key(
    *,
    client: ApiClient,
    actor: Actor | None,
    name: str,
    scopes: list[str] | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Mint a key for a client. Returns the key and its secret token, which is never retrievable again."""
    name = name.strip()
    if not name:
        raise BusinessRuleViolation("A key needs a name.", field="name", code="required")
    requested = client.allowed_scopes if scopes is None else scopes
    scopes = _check_scopes(requested, actor=actor, organization=client.organization, field="scopes")
    outside = set(scopes) - set(client.allowed_scopes)
    if outside:
        raise BusinessRuleViolation(
            f"The client is not allowed these scopes: {', '.join(sorted(outside))}.",
            field="scopes",
            code="scope_beyond",
        )
    if expires_at is not None and expires_at <= timezone.now():
        raise BusinessRuleViolation("The expiry must be in the future.", field="expires_at", code="in_past")
    if client.status != ClientStatus.ACTIVE:
        raise BusinessRuleViolation("A suspended client gets no new keys.", field="client", code="client_suspended")
    with transaction.atomic():
        key, token = _mint(client=client, actor=actor, name=name, scopes=scopes, expires_at=expires_at)
        record_audit_event(
            actor=actor,
            action="gateway.key_issued",
            target=key,
            data={"client_id": str(client.pk), "key_id": key.key_id, "scopes": scopes},
        )
        observe_person_after_commit(
            observe_sensitive_action, user=actor, organization=client.organization, action="gateway.key_issued"
        )
    return key, token


def rotate_api_key(
    *, key: ApiKey, actor: Actor | None, overlap: timedelta = DEFAULT_ROTATION_OVERLAP
) -> tuple[ApiKey, str]:
    """Replace a key: the new one works at once, the old one keeps working for the overlap, then expires."""
    if overlap < timedelta(0) or overlap > MAX_ROTATION_OVERLAP:
        raise BusinessRuleViolation("The overlap is between 0 and 30 days.", field="overlap_seconds", code="invalid")
    now = timezone.now()
    with transaction.atomic():
        key = ApiKey.objects.select_for_update().select_related("client__organization").get(pk=key.pk)
        if key.status_at(now) != "active":
            raise Conflict("Only an active key can be rotated.", code="key_not_active")
        if ApiKey.objects.filter(replaces=key).exists():
            raise Conflict("This key has been rotated already; rotate its replacement.", code="already_rotated")
        client = key.client
        if client.status != ClientStatus.ACTIVE:
            raise BusinessRuleViolation("A suspended client gets no new keys.", field="client", code="client_suspended")
        scopes = [s for s in key.scopes if s in client.allowed_scopes]
        lifetime = key.expires_at - key.created_at if key.expires_at is not None else None
        new_key, token = _mint(
            client=client,
            actor=actor,
            name=key.name,
            scopes=scopes,
            expires_at=now + lifetime if lifetime is not None else None,
        )
        new_key.replaces = key
        new_key.save(update_fields=["replaces"])
        retire_at = now + overlap
        if key.expires_at is None or key.expires_at > retire_at:
            key.expires_at = retire_at
            key.save(update_fields=["expires_at", "updated_at"])
        record_audit_event(
            actor=actor,
            action="gateway.key_rotated",
            target=new_key,
            data={"client_id": str(client.pk), "old_key_id": key.key_id, "key_id": new_key.key_id},
        )
    return new_key, token


def revoke_api_key(*, key: ApiKey, actor: Actor | None, reason: str = "") -> ApiKey:
    """Stop a key at once. Revoking twice is harmless."""
    if key.revoked_at is not None:
        return key
    with transaction.atomic():
        key.revoked_at = timezone.now()
        key.revoked_reason = reason[:200]
        key.save(update_fields=["revoked_at", "revoked_reason", "updated_at"])
        record_audit_event(
            actor=actor,
            action="gateway.key_revoked",
            target=key,
            data={"client_id": str(key.client_id), "key_id": key.key_id, "reason": reason[:200]},
        )
    return key


def revoke_api_keys(
    *,
    actor: Actor | None,
    reason: str,
    client: ApiClient | None = None,
    organization: Organization | None = None,
) -> int:
    """Revoke every live key of a client, or of every client of an organization (a security response).

    Returns how many keys were revoked. One audit event per revoked key, plus one for the whole response.
    """
    if (client is None) == (organization is None):
        raise ValueError("Name exactly one of client or organization.")
    organization = organization or client.organization  # type: ignore[union-attr]
    keys = ApiKey.objects.for_organization(organization).filter(revoked_at__isnull=True)
    if client is not None:
        keys = keys.filter(client=client)
    with transaction.atomic():
        live = list(keys.select_for_update())
        for key in live:
            revoke_api_key(key=key, actor=actor, reason=reason)
        record_audit_event(
            actor=actor,
            action="gateway.keys_revoked_in_bulk",
            target=client if client is not None else organization,
            organization=organization,
            data={"count": len(live), "reason": reason[:200], "key_ids": [k.key_id for k in live]},
        )
    return len(live)


def restore_api_keys(*, actor: Actor | None, revoked_reason: str) -> int:
    """Bring back the keys revoked with exactly this reason (an operator reversing a security response).

    Keys expired meanwhile stay expired. Returns how many keys work again.
    """
    if not revoked_reason:
        raise ValueError("Name the revocation reason to undo; keys revoked without one are never restored.")
    with transaction.atomic():
        revoked = list(
            ApiKey.objects.select_for_update().filter(revoked_at__isnull=False, revoked_reason=revoked_reason)
        )
        for key in revoked:
            key.revoked_at = None
            key.revoked_reason = ""
            key.save(update_fields=["revoked_at", "revoked_reason", "updated_at"])
            record_audit_event(
                actor=actor,
                action="gateway.key_restored",
                target=key,
                data={"client_id": str(key.client_id), "key_id": key.key_id, "reason": revoked_reason[:200]},
            )
    return len(revoked)


# -- Client certificates (mTLS) ---------------------------------------------------------------------------------


def add_certificate_authority(
    *, organization: Organization, actor: Actor | None, name: str, certificate_pem: str
) -> CertificateAuthority:
    """Trust a CA of the organization: its client certificates may then be registered to the org's clients."""
    try:
        facts = parse_certificate(certificate_pem)
    except ValueError as exc:
        raise BusinessRuleViolation(
            "This is not a PEM certificate.", field="certificate_pem", code="invalid_certificate"
        ) from exc
    try:
        with transaction.atomic():
            authority = CertificateAuthority.objects.create(
                organization=organization,
                name=name.strip() or facts.subject[:120],
                certificate_pem=certificate_pem.strip() + "\n",
                fingerprint_sha256=facts.fingerprint_sha256,
                subject=facts.subject,
                not_after=facts.not_after,
            )
            record_audit_event(
                actor=actor,
                action="gateway.certificate_authority_added",
                target=authority,
                data={"fingerprint_sha256": facts.fingerprint_sha256},
            )
    except IntegrityError as exc:
        raise Conflict("This CA is registered already.", field="certificate_pem", code="duplicate") from exc
    return authority


def register_client_certificate(
    *,
    client: ApiClient,
    actor: Actor | None,
    name: str,
    certificate_pem: str = "",
    fingerprint_sha256: str = "",
) -> ClientCertificate:
    """Register a certificate (its PEM, or only its SHA-256 fingerprint) as an identity of a client.

    With the PEM, the certificate must not be expired, and when the organization has CAs registered it
    must be signed by one of them.
    """
    subject, not_after = "", None
    if certificate_pem:
        try:
            facts = parse_certificate(certificate_pem)
        except ValueError as exc:
            raise BusinessRuleViolation(
                "This is not a PEM certificate.", field="certificate_pem", code="invalid_certificate"
            ) from exc
        if facts.not_after <= timezone.now():
            raise BusinessRuleViolation(
                "This certificate has expired.", field="certificate_pem", code="expired_certificate"
            )
        authorities = list(
            CertificateAuthority.objects.for_organization(client.organization).filter(revoked_at__isnull=True)
        )
        if authorities and not any(
            is_signed_by(facts.certificate, parse_certificate(ca.certificate_pem).certificate) for ca in authorities
        ):
            raise BusinessRuleViolation(
                "This certificate is not signed by any of the organization's CAs.",
                field="certificate_pem",
                code="untrusted_issuer",
            )
        fingerprint, subject, not_after = facts.fingerprint_sha256, facts.subject, facts.not_after
    else:
        fingerprint = normalise_fingerprint(fingerprint_sha256) or ""
        if not fingerprint:
            raise BusinessRuleViolation(
                "Give the certificate's PEM or its SHA-256 fingerprint (64 hex digits).",
                field="fingerprint_sha256",
                code="invalid_fingerprint",
            )
    try:
        with transaction.atomic():
            certificate = ClientCertificate.objects.create(
                organization=client.organization,
                client=client,
                name=name.strip() or subject[:120] or fingerprint[:16],
                fingerprint_sha256=fingerprint,
                subject=subject,
                not_after=not_after,
            )
            record_audit_event(
                actor=actor,
                action="gateway.certificate_registered",
                target=certificate,
                data={"client_id": str(client.pk), "fingerprint_sha256": fingerprint},
            )
    except IntegrityError as exc:
        raise Conflict("This certificate is registered already.", field="fingerprint_sha256", code="duplicate") from exc
    return certificate


def revoke_client_certificate(
    *, certificate: ClientCertificate, actor: Actor | None, reason: str = ""
) -> ClientCertificate:
    """Stop accepting a certificate at once."""
    if certificate.revoked_at is not None:
        return certificate
    with transaction.atomic():
        certificate.revoked_at = timezone.now()
        certificate.revoked_reason = reason[:200]
        certificate.save(update_fields=["revoked_at", "revoked_reason", "updated_at"])
        record_audit_event(
            actor=actor,
            action="gateway.certificate_revoked",
            target=certificate,
            data={"client_id": str(certificate.client_id), "fingerprint_sha256": certificate.fingerprint_sha256},
        )
    return certificate


# -- Signals to the security team ---------------------------------------------------------------------------------


def report_hammering(*, client: ApiClient, refusals: int, window_seconds: int, client_ip: str) -> None:
    """A client kept calling after being told 429: tell the security team.

    Today this records an audit event; once the security app's detectors exist, this is the one place
    to hand the finding to them (it is called at most once per client per window).
    """
    # The address goes to the log, not into the audit chain, which can never be erased.
    logger.warning("API client %s refused %s times in %ss from %s", client.pk, refusals, window_seconds, client_ip)
    record_audit_event(
        actor=None,
        action="gateway.client_hammering",
        target=client,
        organization=client.organization_id,
        data={"refusals": refusals, "window_seconds": window_seconds},
    )


# -- Action invocation ----------------------------------------------------------------------------------------


def invoke_action(
    *,
    connector: Connector,
    action: str,
    payload: Any,
    actor: Actor,
    client: ApiClient | None,
) -> Any:
    """Run a connector action for a caller: its request transform, the action, its response transform.

    The client's request transform runs before the action's input schema is checked, because turning the
    client's shape into the action's is what the transform is for; the connectors' service then validates
    the input (ActionInputInvalid, listing every violation) and the output against the action's schemas.
    The actor's permission for the action is checked there too, with `user_can`.

    Every action sends its input (the organization's data) to the external system, so the organization's
    residency rules are consulted first with the connector's declared `data_region`: a forbidden location
    raises ResidencyViolation (recorded as a security event by regions) and nothing reaches the connector.
    """
    request_transform = client.request_transform if client is not None else {}
    response_transform = client.response_transform if client is not None else {}
    try:
        prepared = apply_transform(request_transform, action, payload)
    except TransformError as exc:
        raise BusinessRuleViolation(str(exc), code="request_transform_failed") from exc
    if not isinstance(prepared, dict):
        raise BusinessRuleViolation(
            "An action's input is a JSON object (after the client's request transform).", code="input_not_an_object"
        )
    check_residency(
        organization=connector.organization,
        destination_location=connector.data_region,
        actor=actor,
        purpose=f"gateway action {action[:60]} on connector {connector.pk}",
    )
    output = invoke_connector_action(connector=connector, action=action, payload=prepared, actor=actor)
    try:
        return apply_transform(response_transform, action, output)
    except TransformError as exc:
        raise ResponseTransformFailed(str(exc)) from exc


class ResponseTransformFailed(Exception):
    """The action ran, but the client's response transform could not be applied to its output."""
