"""Authenticating machine callers: API keys and client certificates vouched for by the edge proxy.

`resolve_credential()` does the work once per request (the gateway middleware calls it first, so it can
meter the call; the DRF classes below then hand its result to DRF). A refusal is a `GatewayRefusal`:
401 with a `WWW-Authenticate` challenge for credentials that are missing, malformed, unknown, expired or
revoked; 403 for valid credentials of a suspended client or from an address outside its allow-list.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django.utils import timezone
from rest_framework import authentication
from rest_framework.request import Request

from apps.core.process_cache import ProcessCache
from apps.gateway.credentials import address_in, parse_key, parse_networks, secret_matches
from apps.gateway.edge import presents_certificate_header, verified_certificate_fingerprint
from apps.gateway.models import ApiClient, ApiKey, ClientCertificate, ClientStatus, CredentialKind
from apps.gateway.principals import ClientPrincipal, GatewayCredential
from apps.security.client_ip import client_ip
from apps.security.observers import observe_quietly

if TYPE_CHECKING:
    from apps.accounts.models import Organization
    from apps.core.problems import Problem

REALM = "nofx"
# How often a key's `last_used_at` is written: at most once a minute per key, not on every call.
LAST_USED_EVERY_SECONDS = 60
_UNRESOLVED = object()

# Every call looks its credential up with the client, plan and organization: kept per process until any of
# them changes (a revoked key stops working in every worker at once; see apps.core.process_cache).
CREDENTIALS = ProcessCache(
    "gateway-credentials",
    watch=("gateway.ApiKey", "gateway.ApiClient", "gateway.Plan", "gateway.ClientCertificate", "accounts.Organization"),
)


@dataclass
class GatewayRefusal(Exception):
    status_code: int
    code: str
    detail: str
    headers: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    title: str | None = None

    def as_problem(self) -> Problem:
        # Imported here: DRF imports this module while `rest_framework.views` (which problems needs) loads.
        from apps.core.problems import Problem

        return Problem(
            status_code=self.status_code,
            code=self.code,
            detail=self.detail,
            headers=self.headers,
            extra=self.extra,
            title=self.title,
        )


def _challenge(error: str, description: str) -> dict[str, str]:
    return {"WWW-Authenticate": f'Bearer realm="{REALM}", error="{error}", error_description="{description}"'}


def _unauthorized(code: str, detail: str) -> GatewayRefusal:
    return GatewayRefusal(401, code, detail, _challenge("invalid_token", detail))


def presented_api_key(request: HttpRequest) -> str | None:
    """The API key in `X-API-Key` or `Authorization: Bearer nofx_...`; other bearer tokens are not ours."""
    header = request.META.get("HTTP_X_API_KEY")
    if header is not None:
        return header.strip()
    authorization = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip().startswith("nofx_"):
        return token.strip()
    return None


# When this process last asked the cache about each key: most calls then cost no round trip at all.
_recently_noted: dict[Any, float] = {}


def _note_use(key: ApiKey, now: datetime, address: str) -> None:
    """Record a key's last use at most once a minute across all workers (the cache decides which one writes)."""
    moment = time.monotonic()
    if moment - _recently_noted.get(key.pk, -LAST_USED_EVERY_SECONDS) < LAST_USED_EVERY_SECONDS:
        return
    _recently_noted[key.pk] = moment
    if len(_recently_noted) > 10_000:
        _recently_noted.clear()
    if cache.add(f"gateway:key-used:{key.pk}", 1, timeout=LAST_USED_EVERY_SECONDS):
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now, last_used_ip=address or None)


def _admit_client(client: ApiClient, request: HttpRequest) -> None:
    if not client.organization.is_active:
        raise _unauthorized("organization_inactive", "The organization of this credential is deactivated.")
    if client.status != ClientStatus.ACTIVE:
        raise GatewayRefusal(403, "client_suspended", "This API client is suspended.")
    if client.ip_allowlist and not address_in(client_ip(request), parse_networks(client.ip_allowlist)):
        raise GatewayRefusal(403, "ip_not_allowed", "This API client may not call from this address.")
    _admit_organization(client.organization, request)


def _admit_organization(organization: Organization, request: HttpRequest) -> None:
    """The organization's own IP rules, then its home region: checks the middleware cannot make for machines.

    The network-rules middleware runs before any machine credential is known, so it only applies global
    rules to them; the region middleware likewise cannot tell which organization a key acts for.
    """
    from apps.core.problems import Problem
    from apps.regions.routing import ensure_served_here
    from apps.security.client_ip import client_ip as security_client_ip
    from apps.security.network_rules import refusal_for

    refusal = refusal_for(security_client_ip(request), organization.pk)
    if refusal is not None:
        raise GatewayRefusal(403, f"ip_{refusal.reason}", refusal.detail)
    try:
        ensure_served_here(request, organization)
    except Problem as elsewhere:
        raise GatewayRefusal(
            elsewhere.status_code,
            elsewhere.problem_code,
            str(elsewhere.detail),
            headers=elsewhere.headers,
            extra=elsewhere.extra,
            title=elsewhere.title,
        ) from None


def _authenticate_key(token: str, request: HttpRequest) -> GatewayCredential:
    parsed = parse_key(token)
    if parsed is None:
        raise _unauthorized("invalid_api_key", "The API key is malformed.")
    if parsed.environment != settings.GATEWAY_KEY_ENVIRONMENT:
        raise _unauthorized(
            "wrong_key_environment",
            f"This is a {parsed.environment} key; this deployment accepts {settings.GATEWAY_KEY_ENVIRONMENT} keys.",
        )
    key = CREDENTIALS.get(
        ("key", parsed.key_id),
        lambda: (
            ApiKey.objects.select_related("client__plan", "client__organization").filter(key_id=parsed.key_id).first()
        ),
    )
    if key is None or not secret_matches(parsed.secret, key.secret_hash):
        raise _unauthorized("invalid_api_key", "The API key is not valid.")
    now = timezone.now()
    status = key.status_at(now)
    if status == "revoked":
        raise _unauthorized("revoked_api_key", "The API key has been revoked.")
    if status == "expired":
        raise _unauthorized("expired_api_key", "The API key has expired.")
    client = key.client
    _admit_client(client, request)
    _note_use(key, now, client_ip(request))
    # Imported here: DRF imports this module while `rest_framework.views` (which the services need) loads.
    from apps.security.services import observe_token_use

    observe_quietly(
        observe_token_use, token_id=str(key.pk), ip=client_ip(request), kind="api_key", organization=client.organization
    )
    scopes = frozenset(key.scopes) & frozenset(client.allowed_scopes)
    return GatewayCredential(
        kind=CredentialKind.API_KEY, client=client, organization=client.organization, scopes=scopes, key=key
    )


def _authenticate_certificate(fingerprint: str, request: HttpRequest) -> GatewayCredential:
    registrations = CREDENTIALS.get(
        ("certificate", fingerprint),
        lambda: list(
            ClientCertificate.objects.select_related("client__plan", "client__organization")
            .filter(fingerprint_sha256=fingerprint)
            .order_by("revoked_at")
        ),
    )
    active = [c for c in registrations if c.revoked_at is None]
    if not active:
        if registrations:
            raise _unauthorized("revoked_certificate", "This client certificate has been revoked.")
        raise _unauthorized("unknown_certificate", "This client certificate is not registered to any API client.")
    certificate = active[0]
    if certificate.not_after is not None and certificate.not_after <= timezone.now():
        raise _unauthorized("expired_certificate", "This client certificate has expired.")
    client = certificate.client
    _admit_client(client, request)
    return GatewayCredential(
        kind=CredentialKind.MTLS,
        client=client,
        organization=client.organization,
        scopes=frozenset(client.allowed_scopes),
        certificate=certificate,
    )


def resolve_credential(request: HttpRequest) -> GatewayCredential | None:
    """The machine credential of this request, None when it carries none; raises GatewayRefusal.

    The result (or the refusal) is kept on the request, so it is worked out once.
    """
    cached = getattr(request, "_nofx_gateway_credential", _UNRESOLVED)
    if cached is _UNRESOLVED:
        try:
            cached = _resolve(request)
        except GatewayRefusal as refusal:
            cached = refusal
        request._nofx_gateway_credential = cached  # type: ignore[attr-defined]
    if isinstance(cached, GatewayRefusal):
        raise cached
    return cached  # type: ignore[return-value]


def _resolve(request: HttpRequest) -> GatewayCredential | None:
    token = presented_api_key(request)
    if token is not None:
        return _authenticate_key(token, request)
    fingerprint = verified_certificate_fingerprint(request)
    if fingerprint is not None:
        return _authenticate_certificate(fingerprint, request)
    return None


def _drf_authenticate(request: Request) -> tuple[ClientPrincipal, GatewayCredential] | None:
    try:
        credential = resolve_credential(request._request)
    except GatewayRefusal as refusal:
        raise refusal.as_problem() from None
    if credential is None:
        return None
    return credential.principal, credential


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer nofx_live_...` or `X-API-Key: nofx_live_...`."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        if presented_api_key(request._request) is None:
            return None
        return _drf_authenticate(request)

    def authenticate_header(self, request: Request) -> str:
        return f'Bearer realm="{REALM}"'


class MutualTlsAuthentication(authentication.BaseAuthentication):
    """A client certificate verified by the edge proxy, identified by its SHA-256 fingerprint."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        if not presents_certificate_header(request._request):
            return None
        return _drf_authenticate(request)
