"""OpenID Connect sign-in (allauth's openid_connect provider) against panva's oidc-provider on loopback."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from apps.accounts import services
from apps.accounts.models import EmailDomain, Membership, User, UserSession
from apps.accounts.roles import Role
from tests.factories.accounts import MembershipFactory, OrganizationFactory, TeamFactory

SLUG = "acme-oidc"
CALLBACK = f"http://testserver/accounts/oidc/org-{SLUG}/login/callback/"


@pytest.fixture
def acme(db, oidc_provider, settings):
    # The IdP runs on loopback; allauth's calls to it go through the outbound guard, which refuses private
    # addresses unless allowed (see test_an_idp_on_a_private_address_is_refused_by_default below).
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
    organization = OrganizationFactory(slug=SLUG, name="Acme OIDC")
    owner = MembershipFactory(organization=organization, role=Role.OWNER).user
    EmailDomain.objects.create(organization=organization, domain="acme-oidc.test", verified_at=timezone.now())
    TeamFactory(organization=organization, slug="engineering")
    services.configure_oidc_idp(
        organization=organization,
        actor=owner,
        issuer=oidc_provider.issuer,
        client_id=oidc_provider.client_id,
        client_secret=oidc_provider.client_secret,
        group_map=[{"group": "eng", "team": "engineering", "role": "developer"}],
    )
    return organization


def _sign_in(client: Client, oidc_provider, login: str):
    start = client.post(f"/accounts/oidc/org-{SLUG}/login/")
    assert start.status_code == 302, start.content
    authorize = start["Location"]
    query = parse_qs(urlsplit(authorize).query)
    back = oidc_provider.sign_in(authorize, login, stop_at=CALLBACK)
    return query, client.get(back.replace("http://testserver", ""))


def test_a_person_signs_in_with_oidc_using_pkce_and_is_provisioned(acme, oidc_provider):
    # given
    client = Client()
    # when
    authorize_query, response = _sign_in(client, oidc_provider, "grace")
    # then the request used PKCE, and the person is a member with the mapped role and team
    assert authorize_query["code_challenge_method"] == ["S256"]
    assert authorize_query["code_challenge"][0]
    assert response.status_code == 302, response.content[:2000]
    grace = User.objects.get(email="grace@acme-oidc.test")
    membership = Membership.objects.get(user=grace, organization=acme)
    assert membership.role == Role.DEVELOPER
    assert list(membership.teams.values_list("slug", flat=True)) == ["engineering"]
    assert client.get("/dashboard/").status_code == 200
    session = UserSession.objects.get(user=grace)
    assert (session.method, session.organization_id) == ("oidc", acme.pk)


def test_signing_in_again_reuses_the_same_person(acme, oidc_provider):
    _sign_in(Client(), oidc_provider, "grace")

    _query, response = _sign_in(Client(), oidc_provider, "grace")

    assert response.status_code == 302
    assert User.objects.filter(email="grace@acme-oidc.test").count() == 1


def test_an_unverified_email_is_refused(acme, oidc_provider):
    _query, response = _sign_in(Client(), oidc_provider, "unverified")

    assert response.status_code == 403
    assert not User.objects.filter(email="nobody@acme-oidc.test").exists()


def test_the_login_page_routes_the_domain_to_the_oidc_provider(acme):
    response = Client().post("/accounts/login/", {"login": "grace@acme-oidc.test"})

    assert response["Location"] == f"/accounts/oidc/org-{SLUG}/login/"


def test_an_idp_on_a_private_address_is_refused_by_default(acme, oidc_provider, settings):
    # given a deployment that does not allow private addresses
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False
    client = Client(raise_request_exception=False)
    # when a person starts signing in with the organization's loopback IdP
    response = client.post(f"/accounts/oidc/org-{SLUG}/login/")
    # then discovery is never sent to it, and the person gets the SSO error page saying why
    assert response.status_code == 502
    assert "may not call" in response.content.decode()
    assert oidc_provider.issuer not in response.get("Location", "")
