"""LDAP sign-in (django-auth-ldap) against OpenLDAP's slapd on loopback, configured per deployment."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.accounts.models import Membership, User, UserSession
from apps.accounts.roles import Role
from tests.factories.accounts import OrganizationFactory

BACKENDS_WITH_LDAP = [
    "axes.backends.AxesStandaloneBackend",
    "apps.accounts.backends.PasswordBackend",
    "apps.accounts.sso.ldap.DirectoryBackend",
    "apps.accounts.backends.SingleSignOnBackend",
    "guardian.backends.ObjectPermissionBackend",
]


@pytest.fixture
def directory(settings, ldap_server, db):
    organization = OrganizationFactory(slug="acme-ldap", name="Acme Directory")
    settings.AUTHENTICATION_BACKENDS = BACKENDS_WITH_LDAP
    settings.AUTH_LDAP_SERVER_URI = ldap_server.uri
    settings.AUTH_LDAP_USER_DN_TEMPLATE = f"uid=%(user)s,ou=people,{ldap_server.base}"
    settings.AUTH_LDAP_USER_ATTR_MAP = {"full_name": "cn"}
    settings.LDAP_GROUP_SEARCH_BASE = f"ou=groups,{ldap_server.base}"
    settings.LDAP_ORGANIZATION_SLUG = organization.slug
    settings.LDAP_GROUP_ROLES = {f"cn=admins,ou=groups,{ldap_server.base}": Role.ADMIN}
    settings.LDAP_DEFAULT_ROLE = Role.VIEWER
    return organization


def test_a_directory_user_signs_in_with_email_and_password_and_joins_with_their_groups_role(directory, ldap_server):
    # when
    response = Client().post("/accounts/login/", {"login": "lin@acme.test", "password": ldap_server.passwords["lin"]})
    # then
    assert response.status_code == 302
    lin = User.objects.get(email="lin@acme.test")
    assert lin.full_name == "Lin Admin"
    assert not lin.has_usable_password()
    assert Membership.objects.get(user=lin, organization=directory).role == Role.ADMIN
    assert UserSession.objects.get(user=lin).method == "ldap"


def test_a_directory_user_outside_the_mapped_groups_gets_the_default_role(directory, ldap_server):
    Client().post("/accounts/login/", {"login": "kim@acme.test", "password": ldap_server.passwords["kim"]})

    assert Membership.objects.get(user__email="kim@acme.test", organization=directory).role == Role.VIEWER


def test_a_wrong_directory_password_is_refused(directory, ldap_server):
    response = Client().post("/accounts/login/", {"login": "lin@acme.test", "password": "not-it-at-all"})

    assert response.status_code == 200
    assert not User.objects.filter(email="lin@acme.test").exists()


def test_ldap_is_off_when_not_configured(settings, ldap_server, db):
    settings.AUTHENTICATION_BACKENDS = BACKENDS_WITH_LDAP
    settings.AUTH_LDAP_SERVER_URI = ""

    response = Client().post("/accounts/login/", {"login": "lin@acme.test", "password": ldap_server.passwords["lin"]})

    assert response.status_code == 200
    assert not User.objects.filter(email="lin@acme.test").exists()


def test_the_deployment_settings_leave_ldap_out_by_default(settings):
    assert "apps.accounts.sso.ldap.DirectoryBackend" not in settings.AUTHENTICATION_BACKENDS
