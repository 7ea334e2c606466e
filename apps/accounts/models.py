"""Users, organizations (the tenant), teams, memberships and invitations."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from apps.accounts.roles import Role
from apps.core.models import BaseModel, OrganizationScopedQuerySet

region_code_validator = RegexValidator(r"^[a-z]{2}(-[a-z0-9]+)+$", "A region code looks like `eu-west` or `us-east`.")


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra: Any) -> User:
        if not email:
            raise ValueError("Users need an email address.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.update(is_staff=True, is_superuser=True)
        return self._create_user(email, password, **extra)

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(email__iexact=username)


class User(AbstractBaseUser, PermissionsMixin):
    """A person. They sign in with their email address; organizations are joined through memberships."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Stored lower-cased (the manager, clean() and allauth all normalise), so uniqueness is case-insensitive.
    email = models.EmailField("email address", max_length=254, unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    is_staff = models.BooleanField(
        default=False, help_text="Operators of this deployment: they may sign in to the admin."
    )
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    EMAIL_FIELD = "email"
    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        ordering = ("email",)

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = self.__class__.objects.normalize_email(self.email).lower()

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email.split("@")[0]


class Organization(BaseModel):
    """The tenant: every customer-owned row belongs to exactly one organization."""

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True)
    home_region_code = models.CharField(
        max_length=32,
        validators=[region_code_validator],
        help_text="The region that holds this organization's data (see Regions).",
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class Membership(BaseModel):
    """A user's place in an organization, with one role."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        ordering = ("organization", "user__email")
        constraints = [
            models.UniqueConstraint(fields=("user", "organization"), name="accounts_membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} as {self.role}"


class Team(BaseModel):
    """A group of members. Teams nest: a team may have a parent team in the same organization."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="teams")
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60)
    description = models.TextField(blank=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    members = models.ManyToManyField(Membership, through="TeamMembership", related_name="teams")

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        ordering = ("organization", "name")
        constraints = [
            models.UniqueConstraint(fields=("organization", "slug"), name="accounts_team_slug_unique"),
        ]
        permissions = [("manage_team", "Can manage this team and its members")]

    def __str__(self) -> str:
        return self.name

    def ancestors(self) -> list[Team]:
        """Parent, grandparent, ... up to the root (at most one query per level)."""
        chain: list[Team] = []
        node = self.parent
        while node is not None:
            chain.append(node)
            node = node.parent
        return chain

    def clean(self) -> None:
        super().clean()
        if self.parent_id is None:
            return
        if self.parent_id == self.id:
            raise ValidationError({"parent": "A team cannot be its own parent."})
        parent = self.parent
        if parent is not None and parent.organization_id != self.organization_id:
            raise ValidationError({"parent": "The parent team belongs to another organization."})
        if parent is not None and any(t.id == self.id for t in [parent, *parent.ancestors()]):
            raise ValidationError({"parent": "That parent would make the teams a cycle."})


class TeamMembership(BaseModel):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="team_memberships")
    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="team_memberships")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("team", "membership"), name="accounts_teammembership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.membership.user} in {self.team}"


class InvitationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    REVOKED = "revoked", "Revoked"
    EXPIRED = "expired", "Expired"


class Invitation(BaseModel):
    """An invitation to join an organization. Only the token's SHA-256 is stored; the link carries the token."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        ordering = ("-created_at",)
        indexes = [models.Index(fields=("organization", "email"))]

    def __str__(self) -> str:
        return f"{self.email} to {self.organization}"

    @property
    def status(self) -> str:
        if self.accepted_at:
            return InvitationStatus.ACCEPTED
        if self.revoked_at:
            return InvitationStatus.REVOKED
        if self.expires_at <= timezone.now():
            return InvitationStatus.EXPIRED
        return InvitationStatus.PENDING
