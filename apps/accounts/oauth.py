"""The OAuth2 provider for the API (django-oauth-toolkit), bound to organizations.

- Every OAuth app is registered by one organization (`OrganizationOAuthApp`); its tokens act for that
  organization only and never carry a scope outside the app's allowed scopes.
- A client-credentials token authenticates as a `ServicePrincipal` of the organization; a user's token
  authenticates as the person, narrowed to the token's scopes, and only while they are an active member.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.scopes import BaseScopes
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from apps.accounts.models import Membership, OrganizationOAuthApp
from apps.accounts.permissions import TOKEN_SCOPES_ATTRIBUTE
from apps.accounts.principals import ServicePrincipal
from apps.accounts.scopes import API_SCOPES, DEFAULT_SCOPES, IDENTITY_SCOPES


def allowed_scopes_of(registration: OrganizationOAuthApp) -> set[str]:
    """The app's allowed API scopes, plus the OpenID Connect ones for apps that act for people."""
    allowed = {scope for scope in registration.allowed_scopes if scope in API_SCOPES}
    if registration.application.authorization_grant_type == registration.application.GRANT_AUTHORIZATION_CODE:
        allowed |= set(IDENTITY_SCOPES)
    return allowed


def registration_of(application: Any) -> OrganizationOAuthApp | None:
    if application is None:
        return None
    return (
        OrganizationOAuthApp.objects.select_related("organization")
        .filter(application_id=application.pk, organization__is_active=True)
        .first()
    )


class ApiScopes(BaseScopes):
    """The scopes of `apps.accounts.scopes`, limited to what each app's organization allowed it."""

    def get_all_scopes(self) -> dict[str, str]:
        return {**API_SCOPES, **IDENTITY_SCOPES}

    def get_available_scopes(
        self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any
    ) -> list[str]:
        registration = registration_of(application)
        if registration is None:
            return []
        return sorted(allowed_scopes_of(registration))

    def get_default_scopes(self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any) -> list[str]:
        available = set(self.get_available_scopes(application, request))
        return [scope for scope in DEFAULT_SCOPES if scope in available]


class OrganizationOAuth2Validator(OAuth2Validator):
    """Refuses apps no active organization registered, and people who are not active members of it."""

    def validate_scopes(
        self, client_id: str, scopes: list[str], client: Any, request: Any, *args: Any, **kwargs: Any
    ) -> bool:
        registration = registration_of(client)
        if registration is None:
            return False
        user_id: Any = getattr(getattr(request, "user", None), "pk", None)
        if (
            user_id is not None
            and not Membership.objects.filter(
                user_id=user_id, organization=registration.organization, is_active=True
            ).exists()
        ):
            return False
        if not set(scopes) <= allowed_scopes_of(registration):
            return False
        return bool(super().validate_scopes(client_id, scopes, client, request, *args, **kwargs))

    def get_additional_claims(self, request: Any) -> dict[str, Any]:
        # Released only with the matching scope (oidc_claim_scope: email -> "email", name -> "profile").
        user = request.user
        return {"email": user.email, "email_verified": True, "name": user.get_full_name()}


def _admit_bearer(request: Request | HttpRequest, *, user: Any, organization: Any) -> None:
    """What the middleware cannot check before DRF knows the token: a locked person, the organization's IP
    rules, and the organization's home region (a 307 to it)."""
    from apps.core.problems import Problem
    from apps.regions.routing import ensure_served_here
    from apps.security.client_ip import client_ip
    from apps.security.network_rules import refusal_for
    from apps.security.user_state import is_locked

    http_request: HttpRequest = getattr(request, "_request", request)
    if user is not None and is_locked(user.pk):
        raise Problem(status_code=401, code="account_locked", detail="This account is locked for now.")
    refusal = refusal_for(client_ip(http_request), organization.pk)
    if refusal is not None:
        raise Problem(status_code=403, code=f"ip_{refusal.reason}", detail=refusal.detail)
    ensure_served_here(http_request, organization)


def _observe_bearer_use(request: Request | HttpRequest, *, token: Any, user: Any, organization: Any) -> None:
    """Tell the distant-addresses rule where this token was just presented from."""
    from apps.security.observers import address_of, observe_quietly
    from apps.security.services import observe_token_use

    http_request = getattr(request, "_request", request)
    ip = address_of(http_request)
    if ip:
        observe_quietly(
            observe_token_use,
            token_id=str(token.pk),
            ip=ip,
            kind="oauth_token",
            user=user,
            organization=organization,
        )


class OrganizationOAuth2Authentication(OAuth2Authentication):
    """Bearer tokens for the API. The organization rides on `request.auth.organization`."""

    www_authenticate_realm = "api"

    def authenticate(self, request: Request | HttpRequest) -> tuple[Any, Any] | None:
        result = super().authenticate(request)
        if result is None:
            return None
        user, token = result
        registration = registration_of(token.application)
        if registration is None:
            raise AuthenticationFailed("This token's OAuth app is not registered to an active organization.")
        organization = registration.organization
        scopes = frozenset(token.scope.split())
        token.organization = organization
        _admit_bearer(request, user=user, organization=organization)
        _observe_bearer_use(request, token=token, user=user, organization=organization)
        if user is None:
            principal = ServicePrincipal(
                client_id=token.application.client_id,
                application_pk=token.application_id,
                organization=organization,
                scopes=scopes,
            )
            return principal, token
        if (
            not user.is_active
            or not Membership.objects.filter(user=user, organization=organization, is_active=True).exists()
        ):
            raise AuthenticationFailed("This token's person is no longer an active member of the organization.")
        user.__dict__[TOKEN_SCOPES_ATTRIBUTE] = scopes
        return user, token
