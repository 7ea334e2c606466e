"""Account pages for identity and access: your sessions, the organization's sign-in policy and SSO, SCIM tokens,
OAuth apps, and who can do what on an object. Thin: parse, check `user_can`, call one service, render.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.apps import apps as django_apps
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from apps.accounts import services
from apps.accounts.forms import (
    EmailDomainForm,
    OAuthAppForm,
    OidcIdpForm,
    SamlIdpForm,
    ScimTokenForm,
    SecurityPolicyForm,
)
from apps.accounts.models import (
    EmailDomain,
    Membership,
    OidcIdentityProvider,
    Organization,
    OrganizationOAuthApp,
    SamlIdentityProvider,
    ScimToken,
    SecurityPolicy,
    User,
    UserSession,
    default_saml_attribute_map,
)
from apps.accounts.roles import PERMISSIONS, Role
from apps.accounts.selectors import access_to_object, permission_area_of
from apps.accounts.sso.saml import sp_urls
from apps.accounts.tenancy import request_organization
from apps.accounts.views import _no_organization, _require, _signed_in_user
from apps.core.exceptions import BusinessRuleViolation

# -- Your sessions ---------------------------------------------------------------------------------------------

ENDED_SESSIONS_SHOWN = 10


@login_required
@require_GET
def sessions_page(request: HttpRequest) -> HttpResponse:
    user = _signed_in_user(request)
    sessions = UserSession.objects.filter(user=user).select_related("organization")
    context = {
        "active_sessions": list(sessions.filter(ended_at__isnull=True).order_by("-last_seen_at")),
        "ended_sessions": list(sessions.filter(ended_at__isnull=False).order_by("-ended_at")[:ENDED_SESSIONS_SHOWN]),
        "current_key": request.session.session_key,
    }
    return render(request, "accounts/sessions.html", context)


@login_required
@require_POST
def end_session(request: HttpRequest, session_id: uuid.UUID) -> HttpResponse:
    user = _signed_in_user(request)
    tracked = get_object_or_404(UserSession.objects.filter(user=user, ended_at__isnull=True), pk=session_id)
    current = tracked.session_key == request.session.session_key
    services.end_session(user_session=tracked, actor=user, reason="ended_by_user")
    if current:
        # Its stored session is gone: drop it from this request too, or saving it at the end would fail.
        logout(request)
        return redirect("account_login")
    messages.success(request, "That session is signed out.")
    return redirect("accounts:sessions")


@login_required
@require_POST
def end_other_sessions(request: HttpRequest) -> HttpResponse:
    user = _signed_in_user(request)
    ended = services.end_sessions(
        user=user, actor=user, reason="ended_by_user", keep_session_key=request.session.session_key
    )
    messages.success(request, f"Signed out of {ended} other session(s).")
    return redirect("accounts:sessions")


@login_required
@require_POST
def end_member_sessions(request: HttpRequest, membership_id: uuid.UUID) -> HttpResponse:
    user = _signed_in_user(request)
    organization = request_organization(request)
    if organization is None:
        return _no_organization(request)
    _require(user, "members.manage", organization)
    membership = get_object_or_404(
        Membership.objects.for_organization(organization).select_related("user", "organization"), pk=membership_id
    )
    try:
        ended = services.end_member_sessions(membership=membership, actor=user)
    except BusinessRuleViolation as exc:
        messages.error(request, exc.message)
        return redirect(f"{reverse('accounts:organization')}#members")
    messages.success(request, f"Ended {ended} session(s) of {membership.user.get_full_name()}.")
    return redirect(f"{reverse('accounts:organization')}#members")


# -- Sign-in policy, SSO and SCIM ------------------------------------------------------------------------------


def _identity_organization(request: HttpRequest) -> tuple[User, Organization | None]:
    user = _signed_in_user(request)
    organization = request_organization(request)
    if organization is not None:
        _require(user, "identity.manage", organization)
    return user, organization


def _owners(organization: Organization) -> Any:
    return User.objects.filter(
        memberships__organization=organization, memberships__role=Role.OWNER, memberships__is_active=True
    ).order_by("email")


def _render_security(
    request: HttpRequest, organization: Organization, *, status: int = 200, **forms: Any
) -> HttpResponse:
    policy = SecurityPolicy.objects.filter(organization=organization).first()
    saml = SamlIdentityProvider.objects.filter(organization=organization).first()
    oidc = OidcIdentityProvider.objects.filter(organization=organization).first()
    policy_initial = {
        "require_mfa": policy.require_mfa if policy else False,
        "require_sso": policy.require_sso if policy else False,
        "break_glass_user": policy.break_glass_user_id if policy else None,
        "idle_timeout_minutes": policy.idle_timeout_minutes if policy else None,
        "absolute_timeout_minutes": policy.absolute_timeout_minutes if policy else None,
    }
    saml_initial: dict[str, Any] = {
        "default_role": Role.VIEWER,
        "is_enabled": True,
        "attribute_map": default_saml_attribute_map(),
        "group_map": [],
    }
    if saml is not None:
        saml_initial = {
            "metadata_xml": saml.metadata_xml,
            "metadata_url": saml.metadata_url,
            "attribute_map": saml.attribute_map,
            "group_map": saml.group_map,
            "default_role": saml.default_role,
            "is_enabled": saml.is_enabled,
        }
    oidc_initial: dict[str, Any] = {
        "default_role": Role.VIEWER,
        "is_enabled": True,
        "groups_claim": "groups",
        "group_map": [],
    }
    if oidc is not None:
        oidc_initial = {
            "issuer": oidc.issuer,
            "client_id": oidc.client_id,
            "groups_claim": oidc.groups_claim,
            "group_map": oidc.group_map,
            "default_role": oidc.default_role,
            "is_enabled": oidc.is_enabled,
        }
    context = {
        "organization": organization,
        "policy_form": forms.get("policy_form")
        or SecurityPolicyForm(initial=policy_initial, owners=_owners(organization)),
        "domain_form": forms.get("domain_form") or EmailDomainForm(),
        "saml_form": forms.get("saml_form") or SamlIdpForm(initial=saml_initial),
        "oidc_form": forms.get("oidc_form") or OidcIdpForm(initial=oidc_initial),
        "scim_form": forms.get("scim_form") or ScimTokenForm(),
        "domains": list(EmailDomain.objects.for_organization(organization)),
        "saml": saml,
        "oidc": oidc,
        "sp": sp_urls(request, organization),
        "oidc_callback": request.build_absolute_uri(f"/accounts/oidc/org-{organization.slug}/login/callback/"),
        "scim_tokens": list(ScimToken.objects.for_organization(organization).select_related("created_by")),
        "scim_base": request.build_absolute_uri("/scim/v2/"),
        "new_scim_token": forms.get("new_scim_token"),
    }
    return render(request, "accounts/security.html", context, status=status)


@login_required
@require_GET
def security_page(request: HttpRequest) -> HttpResponse:
    _user, organization = _identity_organization(request)
    if organization is None:
        return _no_organization(request)
    return _render_security(request, organization)


def _back_to_security(anchor: str) -> HttpResponse:
    return redirect(f"{reverse('accounts:security')}#{anchor}")


@login_required
@require_POST
def update_security_policy(request: HttpRequest) -> HttpResponse:
    user, organization = _identity_organization(request)
    if organization is None:
        return _no_organization(request)
    form = SecurityPolicyForm(request.POST, owners=_owners(organization))
    if form.is_valid():
        try:
            services.update_security_policy(organization=organization, actor=user, **form.cleaned_data)
        except BusinessRuleViolation as exc:
            form.add_service_error(exc)
            return _render_security(request, organization, policy_form=form, status=exc.status_code)
        messages.success(request, "The sign-in policy is saved.")
        return _back_to_security("policy")
    return _render_security(request, organization, policy_form=form, status=400)


@login_required
@require_POST
def claim_email_domain(request: HttpRequest) -> HttpResponse:
    user, organization = _identity_organization(request)
    if organization is None:
        return _no_organization(request)
    form = EmailDomainForm(request.POST)
    if form.is_valid():
        try:
            claim = services.claim_email_domain(
                organization=organization, domain=form.cleaned_data["domain"], actor=user
            )
        except BusinessRuleViolation as exc:
            form.add_service_error(exc)
            return _render_security(request, organization, domain_form=form, status=exc.status_code)
        messages.success(request, f"{claim.domain} is claimed; it routes sign-ins once an operator verifies it.")
        return _back_to_security("domains")
    return _render_security(request, organization, domain_form=form, status=400)


@login_required
@require_POST
def remove_email_domain(request: HttpRequest, domain_id: uuid.UUID) -> HttpResponse:
    user, organization = _identity_organization(request)
    if organization is None:
        return _no_organization(request)
    claim = get_object_or_404(EmailDomain.objects.for_organization(organization), pk=domain_id)
    services.remove_email_domain(claim=claim, actor=user)
    messages.success(request, f"{claim.domain} is no longer claimed.")
    return _back_to_security("domains")


@login_required
@require_POST
def save_saml_idp(request: HttpRequest) -> HttpResponse:
    user, organization = _identity_organization(request)
    if organization is None:
        return _no_organization(request)
    form = SamlIdpForm(request.POST, request.FILES)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.configure_saml_idp(
                organization=organization,
                actor=user,
                metadata_xml=data["metadata_file"] or data["metadata_xml"],
                metadata_url=data["metadata_url"] or "",
                attribute_map=data["attribute_map"],
                group_map=data["group_map"],
                default_role=data["default_role"],
                is_enabled=data["is_enabled"],
            )
        except BusinessRuleViolation as exc:
            form.add_service_error(exc)
            return _render_security(request, organization, saml_form=form, status=exc.status_code)
        messages.success(request, "The SAML identity provider is saved.")
        return _back_to_security("saml")
    return _render_security(request, organization, saml_form=form, status=400)


@login_required
@require_POST
def save_oidc_idp(request: HttpRequest) -> HttpResponse:
    user, organization = _identity_organization(request)
    if organization is None:
        return _no_organization(request)
    form = OidcIdpForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.configure_oidc_idp(organization=organization, actor=user, **data)
        except BusinessRuleViolation as exc:
            form.add_service_error(exc)
            return _render_security(request, organization, oidc_form=form, status=exc.status_code)
        messages.success(request, "The OpenID Connect identity provider is saved.")
        return _back_to_security("oidc")
    return _render_security(request, organization, oidc_form=form, status=400)


@login_required
@require_POST
def create_scim_token(request: HttpRequest) -> HttpResponse:
    user, organization = _identity_organization(request)
    if organization is None:
        return _no_organization(request)
    form = ScimTokenForm(request.POST)
    if not form.is_valid():
        return _render_security(request, organization, scim_form=form, status=400)
    _token, raw = services.create_scim_token(organization=organization, actor=user, name=form.cleaned_data["name"])
    # Shown on this response only: it is never stored in clear.
    return _render_security(request, organization, new_scim_token=raw)


@login_required
@require_POST
def revoke_scim_token(request: HttpRequest, token_id: uuid.UUID) -> HttpResponse:
    user, organization = _identity_organization(request)
    if organization is None:
        return _no_organization(request)
    token = get_object_or_404(ScimToken.objects.for_organization(organization), pk=token_id)
    services.revoke_scim_token(token=token, actor=user)
    messages.success(request, f"The SCIM token {token.name} is revoked.")
    return _back_to_security("scim")


# -- OAuth apps --------------------------------------------------------------------------------------------------


def _render_oauth_apps(
    request: HttpRequest,
    organization: Organization,
    *,
    form: OAuthAppForm | None = None,
    status: int = 200,
    **extra: Any,
) -> HttpResponse:
    apps = OrganizationOAuthApp.objects.for_organization(organization).select_related("application", "created_by")
    context = {
        "organization": organization,
        "apps": list(apps),
        "form": form or OAuthAppForm(),
        "token_url": request.build_absolute_uri(reverse("oauth2_provider:token")),
        "authorize_url": request.build_absolute_uri(reverse("oauth2_provider:authorize")),
        **extra,
    }
    return render(request, "accounts/oauth_apps.html", context, status=status)


@login_required
@require_GET
def oauth_apps_page(request: HttpRequest) -> HttpResponse:
    _user, organization = _identity_organization(request)
    if organization is None:
        return _no_organization(request)
    return _render_oauth_apps(request, organization)


@login_required
@require_POST
def register_oauth_app(request: HttpRequest) -> HttpResponse:
    user, organization = _identity_organization(request)
    if organization is None:
        return _no_organization(request)
    form = OAuthAppForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            registration, secret = services.register_oauth_app(
                organization=organization,
                actor=user,
                name=data["name"],
                kind=data["kind"],
                scopes=data["scopes"],
                redirect_uris=data["redirect_uris"],
            )
        except BusinessRuleViolation as exc:
            form.add_service_error(exc)
            return _render_oauth_apps(request, organization, form=form, status=exc.status_code)
        return _render_oauth_apps(request, organization, new_app=registration, new_secret=secret)
    return _render_oauth_apps(request, organization, form=form, status=400)


@login_required
@require_POST
def delete_oauth_app(request: HttpRequest, app_id: uuid.UUID) -> HttpResponse:
    user, organization = _identity_organization(request)
    if organization is None:
        return _no_organization(request)
    registration = get_object_or_404(
        OrganizationOAuthApp.objects.for_organization(organization).select_related("application"), pk=app_id
    )
    name = registration.application.name
    services.delete_oauth_app(registration=registration, actor=user)
    messages.success(request, f"{name} is deleted; its tokens no longer work.")
    return redirect("accounts:oauth_apps")


# -- Who can do what on an object ------------------------------------------------------------------------------


def organization_object(organization: Organization, object_type: str, object_id: Any) -> Any:
    """One object of the organization named by `app_label.model` and id; anything else is 404."""
    try:
        model = django_apps.get_model(object_type)
    except (LookupError, ValueError):
        raise Http404("Unknown object type.") from None
    if model is Organization:
        if str(organization.pk) != str(object_id):
            raise Http404
        return organization
    if not any(f.name == "organization" for f in model._meta.concrete_fields):
        raise Http404("That kind of object does not belong to an organization.")
    try:
        return model._default_manager.get(pk=object_id, organization=organization)
    except (model.DoesNotExist, ValueError, Exception) as exc:
        raise Http404 from exc


@login_required
@require_GET
def object_access_page(request: HttpRequest, object_type: str, object_id: str) -> HttpResponse:
    user = _signed_in_user(request)
    organization = request_organization(request)
    if organization is None:
        return _no_organization(request)
    _require(user, "access.review", organization)
    obj = organization_object(organization, object_type, object_id)
    area = permission_area_of(obj)
    context = {
        "organization": organization,
        "object": obj,
        "object_type": obj._meta.verbose_name,
        "rows": access_to_object(organization, obj),
        "descriptions": {name: text for name, text in PERMISSIONS.items() if not area or name.startswith(f"{area}.")},
    }
    return render(request, "accounts/object_access.html", context)
