"""Tenant scoping for the API: every org-owned object is looked up inside the principal's organization.

An object of another organization is simply not in the queryset, so it answers 404 - never 403 (which
would confirm it exists) and never 200.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from apps.core.models import OrganizationScopedQuerySet

if TYPE_CHECKING:
    from apps.accounts.models import Organization, User


def principal_organization(request: Request) -> Organization | None:
    from apps.accounts.tenancy import request_organization

    return request_organization(request)


class ActorMixin(GenericAPIView[Any]):
    @property
    def actor(self) -> User:
        """The signed-in user the request acts as (these views require authentication)."""
        return self.request.user  # type: ignore[return-value]


class OrganizationScopedMixin(ActorMixin):
    """For viewsets over org-owned models: scope `get_queryset()` and hand the organization to services.

    Set `required_permissions` to map actions to named permissions (see `apps.accounts.roles`);
    `OrganizationPermission` enforces them.
    """

    required_permissions: dict[str, str] = {}

    @property
    def organization(self) -> Organization | None:
        return principal_organization(self.request)

    @property
    def tenant(self) -> Organization:
        """The organization, for writes: a principal without one cannot create anything."""
        organization = self.organization
        if organization is None:
            raise PermissionDenied("You are not a member of any organization.")
        return organization

    def get_queryset(self) -> QuerySet[Any]:
        queryset = super().get_queryset()
        if not isinstance(queryset, OrganizationScopedQuerySet):
            raise TypeError(f"{type(self).__name__} must be over a model with an OrganizationScopedQuerySet.")
        return queryset.for_organization(self.organization)


class OrganizationPermission(BasePermission):
    """The principal's role in its organization must carry the permission the action requires."""

    message = "Your role in this organization does not allow this."

    def required(self, view: Any) -> str | None:
        mapping: dict[str, str] = getattr(view, "required_permissions", {})
        action = getattr(view, "action", None) or view.request.method.lower()
        return mapping.get(action) or mapping.get("*")

    def has_permission(self, request: Request, view: Any) -> bool:
        from apps.accounts.permissions import user_can

        perm = self.required(view)
        if perm is None:
            return True
        organization = principal_organization(request)
        if organization is None:
            # No organization: nothing exists for this principal, the scoped queryset answers 404 / empty.
            return True
        if user_can(request.user, perm, organization):
            return True
        if getattr(request.user, "machine_permissions", None) is not None:
            # An API client holds no object grants: its scopes are all it has.
            self.message = f"This credential's scopes do not grant `{perm}`."
            return False
        # On one object, a django-guardian grant may still allow it: decided in has_object_permission.
        lookup = getattr(view, "lookup_url_kwarg", None) or getattr(view, "lookup_field", "pk")
        return lookup in getattr(view, "kwargs", {})

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        from apps.accounts.permissions import user_can

        perm = self.required(view)
        if perm is None:
            return True
        return user_can(request.user, perm, principal_organization(request), obj=obj)


class OrganizationScopedRelatedField(serializers.PrimaryKeyRelatedField[Any]):
    """A reference to another object of the caller's organization; any other id is "does not exist"."""

    def get_queryset(self) -> QuerySet[Any]:
        queryset = super().get_queryset()
        if not isinstance(queryset, OrganizationScopedQuerySet):
            raise TypeError("OrganizationScopedRelatedField needs a queryset of an organization-owned model.")
        request = self.context.get("request")
        return queryset.for_organization(principal_organization(request) if request is not None else None)
