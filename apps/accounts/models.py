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
from apps.core.fields import EncryptedTextField
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
    # A suspended membership (deprovisioned by SCIM, or by an admin) keeps its role for a later reactivation
    # but grants nothing.
    is_active = models.BooleanField(default=True)
    # The identity provider's id for this person (SCIM `externalId`), unique inside the organization.
    external_id = models.CharField(max_length=200, blank=True)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        ordering = ("organization", "user__email")
        constraints = [
            models.UniqueConstraint(fields=("user", "organization"), name="accounts_membership_unique"),
            models.UniqueConstraint(
                fields=("organization", "external_id"),
                condition=~models.Q(external_id=""),
                name="accounts_membership_external_id_unique",
            ),
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
    # A role every member of this team, and of every team nested inside it, holds at least.
    role = models.CharField(max_length=16, choices=Role.choices, blank=True)
    # The identity provider's id for this team (SCIM group `externalId`).
    external_id = models.CharField(max_length=200, blank=True)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        ordering = ("organization", "name")
        constraints = [
            models.UniqueConstraint(fields=("organization", "slug"), name="accounts_team_slug_unique"),
            models.UniqueConstraint(
                fields=("organization", "external_id"),
                condition=~models.Q(external_id=""),
                name="accounts_team_external_id_unique",
            ),
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


# -- Identity policy and single sign-on ---------------------------------------------------------------------


class SecurityPolicy(BaseModel):
    """How the organization's members must sign in and how long their sessions last."""

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="security_policy")
    require_mfa = models.BooleanField(
        default=False, help_text="Members without a second factor are sent to enrol before anything else works."
    )
    require_sso = models.BooleanField(
        default=False, help_text="Members sign in through the organization's identity provider only."
    )
    break_glass_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="One owner who may still sign in with a password when SSO is required (for an IdP outage).",
    )
    idle_timeout_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="End a session after this long without a request (empty: the default)."
    )
    absolute_timeout_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="End a session this long after sign-in, however active (empty: the default)."
    )

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "security policies"

    def __str__(self) -> str:
        return f"Security policy of {self.organization}"


class EmailDomain(BaseModel):
    """An email domain the organization claims: sign-ins with it are routed to the organization's IdP.

    Only a verified claim routes sign-ins or lets an IdP assert addresses of the domain; operators verify
    claims (a claim on someone else's domain would let a tenant's IdP sign in as its people).
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="email_domains")
    domain = models.CharField(max_length=253, unique=True)
    verified_at = models.DateTimeField(null=True, blank=True)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        ordering = ("domain",)

    def __str__(self) -> str:
        return self.domain


def default_saml_attribute_map() -> dict[str, str]:
    return {
        "email": "mail",
        "first_name": "givenName",
        "last_name": "sn",
        "full_name": "displayName",
        "groups": "memberOf",
    }


class SamlIdentityProvider(BaseModel):
    """The organization's SAML 2.0 identity provider: its metadata and how its assertions map onto us."""

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="saml_idp")
    is_enabled = models.BooleanField(default=True)
    metadata_xml = models.TextField(blank=True, help_text="The IdP's SAML metadata document.")
    metadata_url = models.URLField(blank=True, help_text="Where to fetch the metadata from, instead of pasting it.")
    metadata_fetched_at = models.DateTimeField(null=True, blank=True)
    entity_id = models.CharField(max_length=500, blank=True, help_text="Read from the metadata.")
    attribute_map = models.JSONField(
        default=default_saml_attribute_map,
        help_text="Our field (email, first_name, last_name, full_name, groups) -> the assertion's attribute name.",
    )
    group_map = models.JSONField(
        default=list,
        blank=True,
        help_text='A list of {"group": <IdP group>, "team": <team slug or "">, "role": <role or "">}.',
    )
    default_role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name = "SAML identity provider"

    def __str__(self) -> str:
        return f"SAML IdP of {self.organization}"


class OidcIdentityProvider(BaseModel):
    """The organization's OpenID Connect identity provider (signed in through allauth's `openid_connect`)."""

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="oidc_idp")
    is_enabled = models.BooleanField(default=True)
    issuer = models.URLField(help_text="The issuer URL; its /.well-known/openid-configuration is read.")
    client_id = models.CharField(max_length=200)
    client_secret = EncryptedTextField(blank=True)
    groups_claim = models.CharField(max_length=100, default="groups", blank=True)
    group_map = models.JSONField(default=list, blank=True)
    default_role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name = "OIDC identity provider"

    def __str__(self) -> str:
        return f"OIDC IdP of {self.organization}"

    @property
    def provider_id(self) -> str:
        """allauth's id for this provider; it appears in the sign-in and callback URLs."""
        return f"org-{self.organization.slug}"


# -- Sessions ------------------------------------------------------------------------------------------------


class SignInMethod(models.TextChoices):
    PASSWORD = "password", "Password"
    SAML = "saml", "SAML single sign-on"
    OIDC = "oidc", "OpenID Connect"
    LDAP = "ldap", "LDAP directory"
    OTHER = "other", "Other"


class UserSession(BaseModel):
    """One signed-in browser session, beside Django's session store row with the same key."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tracked_sessions")
    session_key = models.CharField(max_length=64, unique=True)
    method = models.CharField(max_length=16, choices=SignInMethod.choices, default=SignInMethod.PASSWORD)
    organization = models.ForeignKey(
        Organization,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The organization whose identity provider signed the person in, if any.",
    )
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    last_seen_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ("-last_seen_at",)
        indexes = [models.Index(fields=("user", "ended_at"))]

    def __str__(self) -> str:
        return f"Session of {self.user} from {self.ip_address or 'unknown'}"

    @property
    def is_active(self) -> bool:
        return self.ended_at is None


# -- Machine access: OAuth applications and SCIM tokens ---------------------------------------------------------


class OrganizationOAuthApp(BaseModel):
    """An OAuth2 client (django-oauth-toolkit's Application) registered by an organization.

    Its tokens act for this organization only, and never with a scope outside `allowed_scopes`.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="oauth_apps")
    application = models.OneToOneField(
        "oauth2_provider.Application", on_delete=models.CASCADE, related_name="registration"
    )
    allowed_scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        ordering = ("-created_at",)
        verbose_name = "organization OAuth app"

    def __str__(self) -> str:
        return f"OAuth app {self.application_id} of {self.organization}"


class ScimToken(BaseModel):
    """A bearer token an identity provider uses to provision the organization over SCIM. Only its hash is kept."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="scim_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, help_text="The token's first characters, to tell tokens apart.")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        ordering = ("-created_at",)
        verbose_name = "SCIM token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
