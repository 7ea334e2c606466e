"""Reads about people and organizations that several callers share."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from apps.accounts.models import Membership, Organization, User


def memberships_of(user: Any) -> QuerySet[Membership]:
    if not getattr(user, "is_authenticated", False):
        return Membership.objects.none()
    return Membership.objects.filter(user=user, organization__is_active=True).select_related("organization")


def membership_for(user: Any, organization: Organization | None) -> Membership | None:
    if organization is None or not getattr(user, "is_authenticated", False):
        return None
    cache: dict[Any, Membership | None] = user.__dict__.setdefault("_membership_cache", {})
    if organization.pk not in cache:
        cache[organization.pk] = Membership.objects.filter(user=user, organization=organization).first()
    return cache[organization.pk]


def organizations_of(user: User) -> QuerySet[Organization]:
    return Organization.objects.filter(memberships__user=user, is_active=True).order_by("name")
