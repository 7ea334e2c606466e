"""`manage.py seed_demo`: the demo tenants that `make run` serves.

The five demo regions, organizations, nested teams, one member of every role per organization, a pending
invitation and a staff operator for the admin, all written through the accounts services so the audit log records them
as it would record real work.

For the integration demo, Acme also gets a connector for each vendor sandbox (the ones
`manage.py run_sandboxes --connect acme` serves in `make run`) and one integration workflow per
ready-made template between them, created through the connectors and sync services; beat runs them
against the sandboxes as soon as those are up.

Running it again creates only what is missing and never changes a password. Passwords are made with
`secrets` when a user is first created and kept in a credentials file (default `var/demo-credentials.txt`,
mode 0600, never committed) so every run can print the same table of logins. A user whose password is
not in that file (the file was deleted, or the password was changed since) is listed without one;
`manage.py changepassword <email>` sets a new one.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import string
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils.module_loading import import_string

from apps.accounts import services
from apps.accounts.models import Invitation, Membership, Organization, Team, User
from apps.accounts.roles import Role
from apps.connectors import services as connector_services
from apps.connectors.models import Connector
from apps.connectors.sandboxes import SANDBOXES
from apps.connectors.sandboxes.server import Sandbox
from apps.regions.demo import seed_demo_regions
from apps.sync import services as sync_services
from apps.sync.models import IntegrationWorkflow
from apps.sync.workflow_templates import TEMPLATES

# No look-alike characters, so a password read off the terminal can be typed back.
PASSWORD_ALPHABET = "".join(c for c in string.ascii_letters + string.digits if c not in "0O1lI")
PASSWORD_LENGTH = 16


@dataclass(frozen=True)
class DemoPerson:
    role: str
    full_name: str


@dataclass(frozen=True)
class DemoTeam:
    slug: str
    name: str
    description: str
    parent_slug: str | None
    member_roles: tuple[str, ...]


@dataclass(frozen=True)
class DemoOrganization:
    slug: str
    name: str
    home_region_code: str
    email_domain: str
    people: tuple[DemoPerson, ...]

    def email_of(self, role: str) -> str:
        return f"{role}@{self.email_domain}"


# Parents come before their children: teams are created in this order.
DEMO_TEAMS = (
    DemoTeam("platform", "Platform", "Runs the integration platform.", None, (Role.ADMIN,)),
    DemoTeam("integrations", "Integrations", "Builds connectors and sync workflows.", "platform", (Role.DEVELOPER,)),
    DemoTeam("operations", "Operations", "Watches sync runs and connector health.", None, (Role.OPERATOR,)),
)

DEMO_ORGANIZATIONS = (
    DemoOrganization(
        slug="acme",
        name="Acme Manufacturing",
        home_region_code="us-east",
        email_domain="acme.example",
        people=(
            DemoPerson(Role.OWNER, "Olivia Hart"),
            DemoPerson(Role.ADMIN, "Arjun Mehta"),
            DemoPerson(Role.DEVELOPER, "Dana Kim"),
            DemoPerson(Role.OPERATOR, "Omar Haddad"),
            DemoPerson(Role.VIEWER, "Vera Novak"),
        ),
    ),
    DemoOrganization(
        slug="globex",
        name="Globex Europe",
        home_region_code="eu-west",
        email_domain="globex.example",
        people=(
            DemoPerson(Role.OWNER, "Greta Lind"),
            DemoPerson(Role.ADMIN, "Hugo Martin"),
            DemoPerson(Role.DEVELOPER, "Lena Vogel"),
            DemoPerson(Role.OPERATOR, "Piet de Vries"),
            DemoPerson(Role.VIEWER, "Sofia Rossi"),
        ),
    ),
    DemoOrganization(
        slug="initech",
        name="Initech",
        # The demo runs two of its five regions (us-east and eu-west); organizations live in running ones.
        home_region_code="us-east",
        email_domain="initech.example",
        people=(
            DemoPerson(Role.OWNER, "Kenji Sato"),
            DemoPerson(Role.ADMIN, "Mei Chen"),
            DemoPerson(Role.DEVELOPER, "Ravi Iyer"),
            DemoPerson(Role.OPERATOR, "Siti Rahman"),
            DemoPerson(Role.VIEWER, "Liam Walsh"),
        ),
    ),
)

STAFF_OPERATOR = ("ops@nofx.example", "Platform Operator")
# The organization whose connectors point at the vendor sandboxes and run the template workflows.
SYNC_DEMO_ORGANIZATION = "acme"
# Demo workflows run every minute so the admin shows runs soon after `make run` starts.
SYNC_DEMO_INTERVAL_SECONDS = 60
# One invitation stays pending, so the invitations screens have something to show.
PENDING_INVITATION = ("acme", "new.hire@acme.example", Role.DEVELOPER, "integrations")


@dataclass
class Login:
    email: str
    password: str | None
    where: str
    role: str
    created: bool


def generate_password() -> str:
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))


def hash_fingerprint(user: User) -> str:
    """A short digest of the stored password hash: unchanged hash, unchanged password."""
    return hashlib.sha256(user.password.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class DemoCredential:
    password: str
    fingerprint: str


class CredentialStore:
    """The demo passwords, one `email password fingerprint` line each, in a file only its owner can read."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, DemoCredential]:
        if not self.path.exists():
            return {}
        known: dict[str, DemoCredential] = {}
        for line in self.path.read_text().splitlines():
            parts = line.split()
            if line.startswith("#") or len(parts) not in (2, 3):
                continue
            # A line without a fingerprint is checked against the password hash once, then rewritten.
            known[parts[0]] = DemoCredential(password=parts[1], fingerprint=parts[2] if len(parts) == 3 else "")
        return known

    def save(self, known: dict[str, DemoCredential]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lines = [
            "# Demo logins written by `manage.py seed_demo`. Local demo data only; delete the file at will.",
            *(f"{email} {c.password} {c.fingerprint}" for email, c in sorted(known.items())),
        ]
        # mkstemp creates the file with mode 0600, and the rename replaces the old file in one step.
        fd, tmp_name = tempfile.mkstemp(dir=self.path.parent, prefix=".demo-credentials-")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write("\n".join(lines) + "\n")
            os.replace(tmp_name, self.path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        self.path.chmod(0o600)


class Command(BaseCommand):
    help = (
        "Create the demo organizations, teams, users of every role, a pending invitation and a staff operator. "
        "Safe to run again: nothing is duplicated and existing passwords are left alone."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--credentials-file",
            type=Path,
            default=None,
            help="Where the generated demo passwords are kept (default: var/demo-credentials.txt).",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Seed even with DEBUG off. Never on a deployment that real customers use.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "seed_demo creates accounts whose passwords are printed; it runs only with DEBUG on (or --force)."
            )
        path: Path = options["credentials_file"] or settings.VAR_DIR / "demo-credentials.txt"
        store = CredentialStore(path)
        self.known = store.load()
        self.logins: list[Login] = []
        self.invitation_note = ""

        with transaction.atomic():
            # Regions first: an organization can only be homed in an active region.
            seed_demo_regions()
            self._seed_staff_operator()
            for spec in DEMO_ORGANIZATIONS:
                self._seed_organization(spec)
            self._seed_pending_invitation()
            self.sync_note = self._seed_sync_demo()
            # Written inside the transaction: if the commit then fails, the file only names users that a
            # later run will create again with fresh passwords.
            store.save(self.known)

        self._report(path)

    # -- Seeding --------------------------------------------------------------------------------------------

    def _user(self, *, email: str, full_name: str, where: str, role: str, staff: bool = False) -> User:
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            password = generate_password()
            user = User.objects.create_user(email, password, full_name=full_name, is_staff=staff, is_superuser=staff)
            self.known[email] = DemoCredential(password, hash_fingerprint(user))
            self.logins.append(Login(email, password, where, role, created=True))
            return user
        self.logins.append(Login(email, self._known_password(user), where, role, created=False))
        return user

    def _known_password(self, user: User) -> str | None:
        """The stored demo password if it still signs this user in, else None (and it is forgotten)."""
        stored = self.known.get(user.email)
        if stored is None:
            return None
        # Checking a password costs a deliberately slow hash; an unchanged hash needs no check.
        if stored.fingerprint == hash_fingerprint(user):
            return stored.password
        if user.check_password(stored.password):
            # Same password, rehashed (e.g. stronger hasher settings): remember the new hash.
            self.known[user.email] = DemoCredential(stored.password, hash_fingerprint(user))
            return stored.password
        # Someone changed the password since it was generated; the file no longer knows it.
        del self.known[user.email]
        return None

    def _seed_staff_operator(self) -> None:
        email, full_name = STAFF_OPERATOR
        self._user(email=email, full_name=full_name, where="(admin)", role="staff superuser", staff=True)

    def _seed_organization(self, spec: DemoOrganization) -> None:
        people = {person.role: person for person in spec.people}
        owner_person = people[Role.OWNER]
        owner = self._user(
            email=spec.email_of(Role.OWNER), full_name=owner_person.full_name, where=spec.name, role=Role.OWNER
        )
        organization = Organization.objects.filter(slug=spec.slug).first()
        if organization is None:
            organization = services.create_organization(
                name=spec.name, owner=owner, home_region_code=spec.home_region_code, slug=spec.slug
            )
        actor = self._acting_owner(organization)

        memberships: dict[str, Membership] = {}
        for person in spec.people:
            if person.role == Role.OWNER:
                user = owner
            else:
                user = self._user(
                    email=spec.email_of(person.role), full_name=person.full_name, where=spec.name, role=person.role
                )
            memberships[person.role] = self._ensure_member(
                organization=organization, user=user, role=person.role, actor=actor
            )

        teams: dict[str, Team] = {}
        for team_spec in DEMO_TEAMS:
            team = Team.objects.filter(organization=organization, slug=team_spec.slug).first()
            if team is None:
                team = services.create_team(
                    organization=organization,
                    name=team_spec.name,
                    slug=team_spec.slug,
                    description=team_spec.description,
                    parent=teams[team_spec.parent_slug] if team_spec.parent_slug else None,
                    actor=actor,
                )
            teams[team_spec.slug] = team
            for role in team_spec.member_roles:
                services.add_team_member(team=team, membership=memberships[role], actor=actor)

    def _acting_owner(self, organization: Organization) -> User:
        membership = (
            Membership.objects.filter(organization=organization, role=Role.OWNER)
            .select_related("user")
            .order_by("created_at")
            .first()
        )
        if membership is None:
            raise CommandError(f"{organization.name} has no owner left; give it one in the admin, then seed again.")
        return membership.user

    def _ensure_member(self, *, organization: Organization, user: User, role: str, actor: User) -> Membership:
        """Join through an accepted invitation, the way a real person joins. An existing role is kept."""
        existing = Membership.objects.filter(organization=organization, user=user).first()
        if existing is not None:
            return existing
        for stale in self._pending_invitations(organization, user.email):
            services.revoke_invitation(invitation=stale, actor=actor)
        _invitation, token = services.create_invitation(
            organization=organization, email=user.email, role=role, actor=actor
        )
        return services.accept_invitation(token=token, user=user)

    def _seed_pending_invitation(self) -> None:
        org_slug, email, role, team_slug = PENDING_INVITATION
        organization = Organization.objects.get(slug=org_slug)
        where = f"{organization.name}, {role}"
        if Membership.objects.filter(organization=organization, user__email__iexact=email).exists():
            self.invitation_note = f"{email} accepted the demo invitation already ({where})."
            return
        if self._pending_invitations(organization, email):
            self.invitation_note = f"Pending invitation for {email} ({where}) exists."
            return
        services.create_invitation(
            organization=organization,
            email=email,
            role=role,
            team=Team.objects.get(organization=organization, slug=team_slug),
            actor=self._acting_owner(organization),
        )
        self.invitation_note = (
            f"Invited {email} ({where}); the Celery worker prints the invitation email with its link."
        )

    def _seed_sync_demo(self) -> str:
        """Acme's sandbox connectors and one workflow per template, each created once."""
        if not settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES:
            return (
                "Integration demo skipped: the sandboxes listen on 127.0.0.1, which "
                "OUTBOUND_ALLOW_PRIVATE_ADDRESSES does not allow here."
            )
        organization = Organization.objects.get(slug=SYNC_DEMO_ORGANIZATION)
        actor = self._acting_owner(organization)
        connectors = {name: self._sandbox_connector(organization, name) for name in SANDBOXES}
        created = 0
        for template in TEMPLATES:
            if IntegrationWorkflow.objects.filter(organization=organization, template_key=template.key).exists():
                continue
            sync_services.create_workflow_from_template(
                organization=organization,
                actor=actor,
                template_key=template.key,
                source_connector=connectors[template.source_provider],
                target_connector=connectors[template.target_provider],
                interval_seconds=SYNC_DEMO_INTERVAL_SECONDS,
            )
            created += 1
        return (
            f"Integration demo: {organization.name} has {len(connectors)} sandbox connectors and "
            f"{len(TEMPLATES)} template workflows ({created} created this run), run every "
            f"{SYNC_DEMO_INTERVAL_SECONDS} s by beat; see /admin/sync/."
        )

    @staticmethod
    def _sandbox_connector(organization: Organization, name: str) -> Connector:
        """The connector `run_sandboxes --connect` uses for this sandbox (same name), made here if missing."""
        sandbox_class: type[Sandbox] = import_string(SANDBOXES[name])
        connector_name = f"Sandbox {sandbox_class.title}"
        existing = Connector.objects.filter(organization=organization, name=connector_name).first()
        if existing is not None:
            return existing
        # The sandbox states its own connection settings; it is asked on a spare port, and the answer is
        # pointed at the port `make run` serves it on.
        probe = sandbox_class(0).start()
        try:
            config, secret_field, probe_url = probe.demo_connection(), probe.webhook_secret_field(), probe.url
        finally:
            probe.stop()
        served_url = f"http://127.0.0.1:{sandbox_class.default_port}"
        return connector_services.create_connector(
            organization=organization,
            actor=None,
            name=connector_name,
            provider=config["provider"],
            base_url=served_url,
            settings_=json.loads(json.dumps(config["settings"]).replace(probe_url, served_url)),
            credentials={**config["credentials"], secret_field: secrets.token_urlsafe(24)},
            data_region=organization.home_region_code,
        )

    @staticmethod
    def _pending_invitations(organization: Organization, email: str) -> list[Invitation]:
        candidates = Invitation.objects.filter(
            organization=organization, email__iexact=email, accepted_at__isnull=True, revoked_at__isnull=True
        )
        return [invitation for invitation in candidates if invitation.status == "pending"]

    # -- Output ---------------------------------------------------------------------------------------------

    def _report(self, path: Path) -> None:
        created = sum(1 for login in self.logins if login.created)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data ready: {len(DEMO_ORGANIZATIONS)} organizations, {len(self.logins)} logins "
                f"({created} created this run, {len(self.logins) - created} existed already)."
            )
        )
        rows = [("EMAIL", "PASSWORD", "ROLE", "ORGANIZATION", "STATUS")]
        missing: list[str] = []
        for login in self.logins:
            if login.password is None:
                missing.append(login.email)
            rows.append(
                (
                    login.email,
                    login.password or "(unknown, see below)",
                    login.role,
                    login.where,
                    "new" if login.created else "exists",
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for index, row in enumerate(rows):
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
            if index == 0:
                self.stdout.write("  ".join("-" * width for width in widths))
        if missing:
            self.stdout.write(
                "These users exist but their password is not in the credentials file; set one with "
                "`python manage.py changepassword <email>`: " + ", ".join(missing)
            )
        self.stdout.write(self.invitation_note)
        self.stdout.write(self.sync_note)
        self.stdout.write(
            f"Sign in at {settings.SITE_URL}/accounts/login/ (staff operator: {settings.SITE_URL}/admin/)."
        )
        self.stdout.write(f"Passwords are kept in {path} (readable only by you; delete it to forget them).")
