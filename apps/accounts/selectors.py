"""Reads about people and organizations that several callers share."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from apps.accounts.models import Membership, Organization, User


def memberships_of(user: Any) -> QuerySet[Membership]:
    if not getattr(user, "is_authenticated", False):
        return Membership.objects.none()
    return Membership.objects.filter(user=user, is_active=True, organization__is_active=True).select_related(
        "organization"
    )


def membership_for(user: Any, organization: Organization | None) -> Membership | None:
    if organization is None or not getattr(user, "is_authenticated", False):
        return None
    cache: dict[Any, Membership | None] = user.__dict__.setdefault("_membership_cache", {})
    if organization.pk not in cache:
        cache[organization.pk] = Membership.objects.filter(user=user, organization=organization).first()
    return cache[organization.pk]


def organizations_of(user: User) -> QuerySet[Organization]:
    return Organization.objects.filter(memberships__user=user, memberships__is_active=True, is_active=True).order_by(
        "name"
    )


def email_domain_of(email: str) -> str:
    return email.rsplit("@", 1)[-1].strip().lower() if "@" in email else ""


def organization_for_email_domain(email: str) -> Organization | None:
    """The organization that holds a verified claim on the email's domain, if any."""
    from apps.accounts.models import EmailDomain

    domain = email_domain_of(email)
    if not domain:
        return None
    claim = (
        EmailDomain.objects.select_related("organization")
        .filter(domain=domain, verified_at__isnull=False, organization__is_active=True)
        .first()
    )
    return claim.organization if claim else None


def sso_sign_in_url(organization: Organization) -> str | None:
    """Where a person of this organization starts single sign-on, or None when it has no enabled IdP."""
    from django.urls import reverse

    from apps.accounts.models import OidcIdentityProvider, SamlIdentityProvider

    saml = SamlIdentityProvider.objects.filter(organization=organization, is_enabled=True).first()
    if saml is not None and saml.metadata_xml:
        return reverse("sso:saml_login", args=[organization.slug])
    oidc = OidcIdentityProvider.objects.filter(organization=organization, is_enabled=True).first()
    if oidc is not None:
        return reverse("openid_connect_login", args=[oidc.provider_id])
    return None


def password_sign_in_refused(user: Any) -> Organization | None:
    """The organization whose "require SSO" refuses this person a password sign-in, or None.

    The organization's break-glass owner is excepted, so that an IdP outage cannot lock everyone out.
    """
    from apps.accounts.models import SecurityPolicy

    if user is None or getattr(user, "pk", None) is None:
        return None
    policy = (
        SecurityPolicy.objects.select_related("organization")
        .filter(
            require_sso=True,
            organization__is_active=True,
            organization__memberships__user=user,
            organization__memberships__is_active=True,
        )
        .exclude(break_glass_user=user)
        .first()
    )
    return policy.organization if policy else None
