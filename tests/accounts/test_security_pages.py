"""The account pages for sign-in policy, SSO, SCIM tokens and OAuth apps, and their admin."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from oauth2_provider.models import Application

from apps.accounts import services
from apps.accounts.models import EmailDomain, OrganizationOAuthApp, SamlIdentityProvider, ScimToken, SecurityPolicy
from apps.accounts.roles import Role
from tests.factories.accounts import UserFactory


@pytest.fixture
def owner_browser(owner) -> Client:
    client = Client()
    client.force_login(owner)
    return client


def test_the_security_page_shows_our_sp_values_with_a_fixed_number_of_queries(
    owner_browser, organization, owner, django_assert_max_num_queries
):
    # given
    for n in range(5):
        EmailDomain.objects.create(organization=organization, domain=f"d{n}.example.com")
        services.create_scim_token(organization=organization, actor=owner, name=f"t{n}")
    # when / then
    with django_assert_max_num_queries(14):
        response = owner_browser.get("/account/organization/security/")
    body = response.content.decode()
    assert response.status_code == 200
    assert f"http://testserver/sso/saml/{organization.slug}/acs/" in body
    assert f"/accounts/oidc/org-{organization.slug}/login/callback/" in body
    assert body.count("Awaiting verification") == 5


def test_a_developer_cannot_open_the_security_page(organization, make_member):
    client = Client()
    client.force_login(make_member(organization, Role.DEVELOPER))

    assert client.get("/account/organization/security/").status_code == 403
    assert client.get("/account/organization/oauth-apps/").status_code == 403


def test_the_policy_form_saves_and_refuses_bad_timeouts_next_to_the_field(owner_browser, organization):
    saved = owner_browser.post(
        "/account/organization/security/policy/", {"require_mfa": "on", "idle_timeout_minutes": "30"}
    )
    refused = owner_browser.post("/account/organization/security/policy/", {"idle_timeout_minutes": "2"})

    assert saved.status_code == 302
    policy = SecurityPolicy.objects.get(organization=organization)
    assert (policy.require_mfa, policy.idle_timeout_minutes) == (True, 30)
    assert refused.status_code == 400
    assert "policy_idle_timeout_minutes_error" in refused.content.decode()


def test_requiring_sso_without_an_idp_is_explained_on_the_page(owner_browser):
    response = owner_browser.post("/account/organization/security/policy/", {"require_sso": "on"})

    assert response.status_code == 422
    assert "Set up a SAML or OIDC identity provider" in response.content.decode()


def test_a_domain_is_claimed_unverified_and_a_taken_one_is_refused(owner_browser, organization, other_organization):
    EmailDomain.objects.create(organization=other_organization, domain="taken.test")

    claimed = owner_browser.post("/account/organization/security/domains/", {"domain": "Acme.TEST"})
    refused = owner_browser.post("/account/organization/security/domains/", {"domain": "taken.test"})

    assert claimed.status_code == 302
    claim = EmailDomain.objects.get(domain="acme.test")
    assert (claim.organization, claim.verified_at) == (organization, None)
    assert refused.status_code == 409


def test_saml_metadata_can_be_uploaded_and_garbage_is_refused_next_to_the_field(owner_browser, organization, saml_idp):
    # given
    good = SimpleUploadedFile("idp.xml", saml_idp.metadata_xml().encode(), content_type="text/xml")
    # when
    saved = owner_browser.post(
        "/account/organization/security/saml/", {"metadata_file": good, "default_role": "viewer", "is_enabled": "on"}
    )
    refused = owner_browser.post(
        "/account/organization/security/saml/", {"metadata_xml": "<nope/>", "default_role": "viewer"}
    )
    # then
    assert saved.status_code == 302
    idp = SamlIdentityProvider.objects.get(organization=organization)
    assert idp.entity_id == f"{saml_idp.base_url}/saml2/idp/metadata.php"
    assert refused.status_code == 422
    assert "exactly one identity provider" in refused.content.decode()


def test_a_scim_token_is_shown_once(owner_browser, organization):
    response = owner_browser.post("/account/organization/security/scim-tokens/", {"name": "Okta"})

    body = response.content.decode()
    assert response.status_code == 200
    assert "nofx_scim_" in body
    token = ScimToken.objects.get(organization=organization)
    assert owner_browser.get("/account/organization/security/").content.decode().count(token.prefix) == 1


def test_an_admin_registers_an_oauth_app_and_sees_its_secret_once(owner_browser, organization):
    # when
    response = owner_browser.post(
        "/account/organization/oauth-apps/new/",
        {"name": "Reporting", "kind": "machine", "scopes": ["teams:read", "audit:read"]},
    )
    # then
    body = response.content.decode()
    registration = OrganizationOAuthApp.objects.get(organization=organization)
    assert response.status_code == 200
    assert registration.application.client_id in body
    assert 'id="new-client-secret"' in body
    assert registration.allowed_scopes == ["audit:read", "teams:read"]
    assert registration.application.authorization_grant_type == Application.GRANT_CLIENT_CREDENTIALS
    assert 'id="new-client-secret"' not in owner_browser.get("/account/organization/oauth-apps/").content.decode()


def test_a_web_app_needs_a_redirect_uri(owner_browser):
    response = owner_browser.post(
        "/account/organization/oauth-apps/new/", {"name": "Web", "kind": "web", "scopes": ["teams:read"]}
    )

    assert response.status_code == 422
    assert "redirect URI" in response.content.decode()


def test_the_oauth_apps_page_lists_apps_with_a_fixed_number_of_queries(
    owner_browser, organization, owner, django_assert_max_num_queries
):
    for n in range(5):
        services.register_oauth_app(
            organization=organization, actor=owner, name=f"App {n}", kind="machine", scopes=["teams:read"]
        )

    with django_assert_max_num_queries(8):
        response = owner_browser.get("/account/organization/oauth-apps/")

    assert response.content.decode().count("Client credentials") == 5


def test_deleting_an_app_from_the_page(owner_browser, organization, owner, other_organization):
    registration, _secret = services.register_oauth_app(
        organization=organization, actor=owner, name="Old", kind="machine", scopes=["teams:read"]
    )
    foreign, _ = services.register_oauth_app(
        organization=other_organization, actor=UserFactory(), name="Theirs", kind="machine", scopes=["teams:read"]
    )

    assert owner_browser.post(f"/account/organization/oauth-apps/{foreign.pk}/delete/").status_code == 404
    assert owner_browser.post(f"/account/organization/oauth-apps/{registration.pk}/delete/").status_code == 302
    assert not OrganizationOAuthApp.objects.filter(pk=registration.pk).exists()
    assert OrganizationOAuthApp.objects.filter(pk=foreign.pk).exists()


@pytest.mark.parametrize(
    "model",
    [
        "securitypolicy",
        "emaildomain",
        "samlidentityprovider",
        "oidcidentityprovider",
        "usersession",
        "organizationoauthapp",
        "scimtoken",
        "user",
    ],
)
def test_the_admin_lists_identity_models(model, organization, owner):
    # given an operator and one row of each kind
    operator = UserFactory(is_staff=True, is_superuser=True)
    services.register_oauth_app(organization=organization, actor=owner, name="A", kind="machine", scopes=["teams:read"])
    services.create_scim_token(organization=organization, actor=owner, name="T")
    EmailDomain.objects.create(organization=organization, domain="admin.test")
    SecurityPolicy.objects.create(organization=organization)
    client = Client()
    client.force_login(operator)
    # when
    response = client.get(f"/admin/accounts/{model}/")

    assert response.status_code == 200
