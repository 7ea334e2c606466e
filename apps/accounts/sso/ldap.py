"""LDAP sign-in (django-auth-ldap), configured per deployment and off unless AUTH_LDAP_SERVER_URI is set.

People type their email address and directory password. The directory entry is found by the DN template
(AUTH_LDAP_USER_DN_TEMPLATE, filled with the part of the address before @) or by a search
(LDAP_USER_SEARCH_BASE + LDAP_USER_SEARCH_FILTER, filled with the whole address). Directory groups
(groupOfNames under LDAP_GROUP_SEARCH_BASE) give a role in the organization LDAP_ORGANIZATION_SLUG through
LDAP_GROUP_ROLES (group DN -> role); everyone else there gets LDAP_DEFAULT_ROLE.
"""

from __future__ import annotations

from typing import Any

import ldap
from django.conf import settings
from django.http import HttpRequest
from django_auth_ldap.backend import LDAPBackend
from django_auth_ldap.config import GroupOfNamesType, LDAPSearch

from apps.accounts import services
from apps.accounts.models import Organization, User
from apps.accounts.selectors import password_sign_in_refused


class DirectoryBackend(LDAPBackend):
    """Checks an email + password against the directory, then provisions the person into the LDAP organization."""

    @property
    def default_settings(self) -> dict[str, Any]:
        # Search and group objects cannot come from the environment as text: build them from plain settings.
        built: dict[str, Any] = {}
        if settings.LDAP_USER_SEARCH_BASE and not settings.AUTH_LDAP_USER_DN_TEMPLATE:
            built["USER_SEARCH"] = LDAPSearch(
                settings.LDAP_USER_SEARCH_BASE, ldap.SCOPE_SUBTREE, settings.LDAP_USER_SEARCH_FILTER
            )
        if settings.LDAP_GROUP_SEARCH_BASE:
            built["GROUP_SEARCH"] = LDAPSearch(
                settings.LDAP_GROUP_SEARCH_BASE, ldap.SCOPE_SUBTREE, "(objectClass=groupOfNames)"
            )
            built["GROUP_TYPE"] = GroupOfNamesType()
        return built

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        email: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        address = (email or username or "").strip().lower()
        if not settings.AUTH_LDAP_SERVER_URI or "@" not in address or not password:
            return None
        lookup = address.split("@", 1)[0] if settings.AUTH_LDAP_USER_DN_TEMPLATE else address
        self._nofx_email = address
        user = super().authenticate(request, username=lookup, password=password, **kwargs)
        if not isinstance(user, User):
            return None
        # A directory password is still a password: organizations that require SSO refuse it too.
        if password_sign_in_refused(user) is not None:
            return None
        directory_entry: Any = getattr(user, "ldap_user", None)
        group_dns = sorted(directory_entry.group_dns) if directory_entry and settings.LDAP_GROUP_SEARCH_BASE else []
        _provision(user=user, group_dns=group_dns)
        return user

    def get_or_build_user(self, username: str, ldap_user: Any) -> tuple[User, bool]:
        email = getattr(self, "_nofx_email", "") or username
        user = User.objects.filter(email__iexact=email).first()
        if user is not None:
            return user, False
        return User(email=email), True

    def get_user(self, user_id: Any) -> User | None:
        user = User.objects.filter(pk=user_id).first()
        return user if user is not None and user.is_active else None

    # Directory groups become roles in our organization, never Django permissions.
    def get_group_permissions(self, user: Any, obj: Any = None) -> set[str]:
        return set()

    def get_all_permissions(self, user: Any, obj: Any = None) -> set[str]:
        return set()

    def has_perm(self, user: Any, perm: str, obj: Any = None) -> bool:
        return False


def _provision(*, user: User, group_dns: list[str]) -> None:
    slug = settings.LDAP_ORGANIZATION_SLUG
    organization = Organization.objects.filter(slug=slug, is_active=True).first() if slug else None
    if organization is None:
        return
    roles = {dn.lower(): role for dn, role in settings.LDAP_GROUP_ROLES.items()}
    services.provision_directory_member(
        organization=organization,
        user=user,
        roles=[roles[dn.lower()] for dn in group_dns if dn.lower() in roles],
        default_role=settings.LDAP_DEFAULT_ROLE,
    )
