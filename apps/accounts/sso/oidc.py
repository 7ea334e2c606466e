"""OpenID Connect sign-in per organization, through allauth's `openid_connect` provider.

Each organization's `OidcIdentityProvider` becomes an allauth app with provider id `org-<slug>` (sign-in at
`/accounts/oidc/org-<slug>/login/`), PKCE always on. The person the IdP vouches for is provisioned into
that organization just in time, exactly as for SAML.
"""

from __future__ import annotations

from typing import Any

from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialApp, SocialLogin
from django.http import HttpRequest
from django.shortcuts import render

from apps.accounts import services
from apps.accounts.backends import SINGLE_SIGN_ON_BACKEND
from apps.accounts.models import OidcIdentityProvider, SignInMethod
from apps.accounts.signals import SSO_SIGN_IN_ATTRIBUTE
from apps.accounts.tenancy import set_active_organization
from apps.core.exceptions import BusinessRuleViolation

PROVIDER_PREFIX = "org-"


def _app_for(idp: OidcIdentityProvider) -> SocialApp:
    return SocialApp(
        provider="openid_connect",
        provider_id=idp.provider_id,
        name=idp.organization.name,
        client_id=idp.client_id,
        secret=idp.client_secret or "",
        settings={"server_url": idp.issuer, "oauth_pkce_enabled": True},
    )


def _claims(sociallogin: SocialLogin) -> dict[str, Any]:
    data = dict(sociallogin.account.extra_data or {})
    merged: dict[str, Any] = {}
    for nested in ("id_token", "userinfo"):
        if isinstance(data.get(nested), dict):
            merged.update(data[nested])
    merged.update({k: v for k, v in data.items() if not isinstance(v, dict)})
    return merged


class OrganizationSocialAccountAdapter(DefaultSocialAccountAdapter):
    def get_requests_session(self) -> Any:
        """allauth's session for discovery, token, JWKS and userinfo calls, through the guarded transport.

        An IdP on an address the platform may not call gets the SSO error page, not a server error.
        """
        from allauth.core import context

        from apps.accounts.sso.outbound import DestinationRefused, guarded_requests_session

        session = guarded_requests_session(super().get_requests_session())
        send = session.request

        def request(*args: Any, **kwargs: Any) -> Any:
            try:
                return send(*args, **kwargs)
            except DestinationRefused:
                detail = "Your organization's identity provider is on an address this platform may not call."
                page = render(
                    context.request, "accounts/sso_error.html", {"title": "Single sign-on failed", "detail": detail}
                )
                page.status_code = 502
                raise ImmediateHttpResponse(page) from None

        session.request = request  # type: ignore[method-assign]
        return session

    def list_apps(self, request: HttpRequest, provider: Any = None, client_id: Any = None) -> list[SocialApp]:
        apps: list[SocialApp] = super().list_apps(request, provider=provider, client_id=client_id)
        if provider and provider != "openid_connect" and not str(provider).startswith(PROVIDER_PREFIX):
            return apps
        idps = OidcIdentityProvider.objects.filter(is_enabled=True, organization__is_active=True).select_related(
            "organization"
        )
        if provider and str(provider).startswith(PROVIDER_PREFIX):
            idps = idps.filter(organization__slug=str(provider)[len(PROVIDER_PREFIX) :])
        if client_id:
            idps = idps.filter(client_id=client_id)
        return apps + [_app_for(idp) for idp in idps]

    def is_open_for_signup(self, request: HttpRequest, sociallogin: SocialLogin) -> bool:
        return True

    def pre_social_login(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        provider_id = sociallogin.account.provider
        if not provider_id.startswith(PROVIDER_PREFIX):
            return
        idp = (
            OidcIdentityProvider.objects.select_related("organization")
            .filter(organization__slug=provider_id[len(PROVIDER_PREFIX) :], is_enabled=True)
            .first()
        )
        if idp is None:
            raise ImmediateHttpResponse(self._refusal(request, "This organization's OIDC sign-in is switched off."))
        claims = _claims(sociallogin)
        email = str(claims.get("email") or getattr(sociallogin.user, "email", "") or "")
        if claims.get("email_verified") is False:
            raise ImmediateHttpResponse(
                self._refusal(request, "Your identity provider has not verified your email.", username=email)
            )
        groups = claims.get(idp.groups_claim) if idp.groups_claim else []
        full_name = str(claims.get("name") or "")
        try:
            user, _membership = services.provision_sso_member(
                organization=idp.organization,
                email=email,
                full_name=full_name,
                groups=[str(g) for g in groups] if isinstance(groups, list) else [],
                group_map=idp.group_map,
                default_role=idp.default_role,
                method=SignInMethod.OIDC,
            )
        except BusinessRuleViolation as exc:
            raise ImmediateHttpResponse(self._refusal(request, exc.message, username=email)) from None
        user.backend = SINGLE_SIGN_ON_BACKEND
        setattr(request, SSO_SIGN_IN_ATTRIBUTE, (SignInMethod.OIDC, idp.organization))
        if not sociallogin.is_existing:
            sociallogin.user = user
            sociallogin.save(request, connect=True)
        else:
            sociallogin.user.backend = SINGLE_SIGN_ON_BACKEND
        request.session["_nofx_sso_organization"] = str(idp.organization.pk)
        set_active_organization(request, idp.organization)

    def _refusal(self, request: HttpRequest, detail: str, *, username: str = "") -> Any:
        from apps.accounts.services import observe_failed_sign_in

        observe_failed_sign_in(request=request, username=username or "oidc:unknown")
        return render(
            request, "accounts/sso_error.html", {"title": "Single sign-on failed", "detail": detail}, status=403
        )
