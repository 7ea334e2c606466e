"""`manage.py seed_demo` builds the demo tenants through the services and is safe to run again."""

from __future__ import annotations

import io
import stat
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from apps.accounts.models import Invitation, Membership, Organization, Team, TeamMembership, User
from apps.accounts.roles import Role
from apps.core.management.commands.seed_demo import DEMO_ORGANIZATIONS, STAFF_OPERATOR, CredentialStore
from apps.security.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def credentials_file(tmp_path: Path) -> Path:
    return tmp_path / "demo-credentials.txt"


@pytest.fixture
def seed(credentials_file: Path):
    def run() -> str:
        out = io.StringIO()
        call_command("seed_demo", credentials_file=credentials_file, force=True, stdout=out)
        return out.getvalue()

    return run


def _passwords(credentials_file: Path) -> dict[str, str]:
    return {email: c.password for email, c in CredentialStore(credentials_file).load().items()}


def _counts() -> dict[str, int]:
    return {
        "users": User.objects.count(),
        "organizations": Organization.objects.count(),
        "memberships": Membership.objects.count(),
        "teams": Team.objects.count(),
        "team_memberships": TeamMembership.objects.count(),
        "invitations": Invitation.objects.count(),
        "audit_events": AuditEvent.objects.count(),
    }


def test_running_it_twice_leaves_the_same_rows(seed):
    # given
    seed()
    first = _counts()
    # when
    seed()
    # then
    assert _counts() == first
    assert first["organizations"] == len(DEMO_ORGANIZATIONS)
    assert first["users"] == 5 * len(DEMO_ORGANIZATIONS) + 1


def test_every_organization_has_a_member_of_every_role_in_its_region(seed):
    seed()

    for spec in DEMO_ORGANIZATIONS:
        organization = Organization.objects.get(slug=spec.slug)
        assert organization.home_region_code == spec.home_region_code
        roles = set(Membership.objects.filter(organization=organization).values_list("role", flat=True))
        assert roles == set(Role.values)


def test_teams_are_nested(seed):
    seed()

    integrations = Team.objects.select_related("parent").get(organization__slug="acme", slug="integrations")
    assert integrations.parent is not None
    assert integrations.parent.slug == "platform"
    assert integrations.team_memberships.filter(membership__role=Role.DEVELOPER).exists()


def test_one_invitation_stays_pending(seed):
    seed()
    seed()

    pending = [i for i in Invitation.objects.all() if i.status == "pending"]
    assert [(i.organization.slug, i.email) for i in pending] == [("acme", "new.hire@acme.example")]


def test_the_staff_operator_can_use_the_admin_and_belongs_to_no_organization(seed):
    seed()

    operator = User.objects.get(email=STAFF_OPERATOR[0])
    assert operator.is_staff
    assert operator.is_superuser
    assert not operator.memberships.exists()


def test_the_output_lists_every_login_with_a_working_password(seed, credentials_file):
    # when
    output = seed()
    # then
    passwords = _passwords(credentials_file)
    assert set(passwords) == set(User.objects.values_list("email", flat=True))
    for email, password in passwords.items():
        assert f"{email} " in output
        assert password in output
        assert User.objects.get(email=email).check_password(password)
    assert "/accounts/login/" in output


def test_a_second_run_prints_the_same_logins_and_changes_no_password(seed, credentials_file):
    # given
    seed()
    before = dict(User.objects.values_list("email", "password"))
    passwords = _passwords(credentials_file)
    # when
    output = seed()
    # then
    assert dict(User.objects.values_list("email", "password")) == before
    assert all(password in output for password in passwords.values())
    assert "0 created this run" in output


def test_the_credentials_file_is_readable_by_its_owner_only(seed, credentials_file):
    seed()

    assert stat.S_IMODE(credentials_file.stat().st_mode) == 0o600


def test_a_password_changed_since_seeding_is_not_printed(seed, credentials_file):
    # given
    seed()
    viewer = User.objects.get(email="viewer@acme.example")
    old_password = _passwords(credentials_file)[viewer.email]
    viewer.set_password("a-brand-new-password-of-theirs")
    viewer.save()
    # when
    output = seed()
    # then
    assert old_password not in output
    assert "changepassword" in output
    assert viewer.email not in _passwords(credentials_file)


def test_a_password_stored_under_a_new_hash_is_still_printed(seed, credentials_file):
    # given the same password hashed again (a new salt, as after a hasher upgrade)
    seed()
    viewer = User.objects.get(email="viewer@acme.example")
    password = _passwords(credentials_file)[viewer.email]
    viewer.set_password(password)
    viewer.save()
    # when
    output = seed()
    # then
    assert password in output
    assert _passwords(credentials_file)[viewer.email] == password


def test_a_lost_credentials_file_leaves_existing_passwords_alone(seed, credentials_file):
    # given
    seed()
    before = dict(User.objects.values_list("email", "password"))
    credentials_file.unlink()
    # when
    output = seed()
    # then
    assert dict(User.objects.values_list("email", "password")) == before
    assert "changepassword" in output
    assert _passwords(credentials_file) == {}


def test_no_password_reaches_the_audit_log(seed, credentials_file):
    # given
    seed()
    passwords = _passwords(credentials_file).values()
    # when
    logged = " ".join(str(row) for row in AuditEvent.objects.values())
    # then
    assert AuditEvent.objects.filter(action="accounts.organization_created").count() == len(DEMO_ORGANIZATIONS)
    assert AuditEvent.objects.filter(action="accounts.invitation_accepted").count() == 4 * len(DEMO_ORGANIZATIONS)
    assert not [password for password in passwords if password in logged]


@override_settings(DEBUG=False)
def test_it_refuses_to_run_with_debug_off_unless_forced(credentials_file):
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_demo", credentials_file=credentials_file, stdout=io.StringIO())

    assert not User.objects.exists()


def test_it_seeds_five_regions_two_of_them_running(seed):
    from apps.regions.models import Region, RegionStatus

    seed()

    statuses = dict(Region.objects.values_list("code", "status"))
    assert set(statuses) == {"us-east", "eu-west", "eu-central", "ap-southeast", "ca-central"}
    assert {code for code, status in statuses.items() if status == RegionStatus.ACTIVE} == {"us-east", "eu-west"}
    assert Region.objects.get(code="eu-west").residency_rules.filter(location_pattern="eu-*").exists()
