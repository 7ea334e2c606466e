"""Abstract base models every app builds on. No business logic lives here."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, Self

from django.db import models

if TYPE_CHECKING:
    from apps.accounts.models import Organization


class BaseModel(models.Model):
    """A UUID primary key (safe to expose, unguessable) and creation/update timestamps."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class OrganizationScopedQuerySet(models.QuerySet[Any]):
    """A queryset that can be narrowed to one tenant; every org-owned read goes through `for_organization`."""

    organization_field = "organization"

    def for_organization(self, organization: Organization | None) -> Self:
        if organization is None:
            return self.none()
        return self.filter(**{self.organization_field: organization})


class OrganizationOwnedModel(BaseModel):
    """A row that belongs to exactly one organization (the tenant)."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        abstract = True
