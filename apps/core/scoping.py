"""Tenant scoping for the API: every org-owned object is looked up inside the principal's organization.

An object of another organization is simply not in the queryset, so it answers 404 - never 403 (which
would confirm it exists) and never 200.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from apps.core.models import OrganizationScopedQuerySet

if TYPE_CHECKING:
    from apps.accounts.models import Organization


def principal_organization(request: Request) -> Organization | None:
    from apps.accounts.tenancy import request_organization

    return request_organization(request)


class OrganizationScopedMixin:
    """For viewsets over org-owned models: scope `get_queryset()` and hand the organization to services.

    Set `required_permissions` to map actions to named permissions (see `apps.accounts.roles`);
    `OrganizationPermission` enforces them.
    """

    request: Request
    required_permissions: dict[str, str] = {}

    @property
    def organization(self) -> Organization | None:
        return principal_organization(self.request)

    def get_queryset(self) -> QuerySet[Any]:
        queryset = super().get_queryset()  # type: ignore[misc]
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
        # On one object, a django-guardian grant may still allow it: decided in has_object_permission.
        lookup = getattr(view, "lookup_url_kwarg", None) or getattr(view, "lookup_field", "pk")
        return lookup in getattr(view, "kwargs", {})

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        from apps.accounts.permissions import user_can

        perm = self.required(view)
        if perm is None:
            return True
        return user_can(request.user, perm, principal_organization(request), obj=obj)
