"""API keys and OAuth apps for the publisher's own use, made through the gateway and account services."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.accounts.models import OrganizationOAuthApp
from apps.accounts.roles import Role
from apps.gateway.models import ApiKey
from apps.gateway.services import create_api_client, issue_api_key
from tests.factories.accounts import OrganizationFactory

pytestmark = pytest.mark.django_db

CREDENTIALS = "/developers/credentials/"


def test_a_developer_creates_an_api_key_and_sees_its_secret_once(developer_browser, publisher):
    # when
    response = developer_browser.post(
        reverse("developers:create_api_key"), {"name": "CI publishing", "scopes": ["connectors:read"]}
    )
    # then
    key = ApiKey.objects.get()
    assert response.status_code == 200
    assert key.name == "CI publishing"
    assert key.scopes == ["connectors:read"]
    assert b'id="new-api-key"' in response.content
    # and it is not shown again
    assert b'id="new-api-key"' not in developer_browser.get(CREDENTIALS).content


def test_it_refuses_a_key_without_scopes(developer_browser, publisher):
    # when
    response = developer_browser.post(reverse("developers:create_api_key"), {"name": "CI"})
    # then
    assert response.status_code == 400
    assert not ApiKey.objects.exists()


def test_it_refuses_an_unknown_scope(developer_browser, publisher):
    # when
    response = developer_browser.post(reverse("developers:create_api_key"), {"name": "CI", "scopes": ["root:all"]})
    # then
    assert response.status_code == 400
    assert not ApiKey.objects.exists()


def test_a_key_name_in_use_is_refused_with_the_reason(developer_browser, publisher, developer, organization):
    # given
    create_api_client(organization=organization, actor=developer, name="CI", allowed_scopes=["connectors:read"])
    # when
    response = developer_browser.post(
        reverse("developers:create_api_key"), {"name": "CI", "scopes": ["connectors:read"]}
    )
    # then
    assert response.status_code == 409
    assert b"exists already" in response.content


def test_a_developer_revokes_a_key(developer_browser, publisher, developer, organization):
    # given
    client = create_api_client(
        organization=organization, actor=developer, name="CI", allowed_scopes=["connectors:read"]
    )
    key, _ = issue_api_key(client=client, actor=developer, name="CI")
    # when
    response = developer_browser.post(reverse("developers:revoke_key", args=[key.pk]))
    # then
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_another_organizations_key_cannot_be_revoked(developer_browser, publisher, make_member):
    # given
    other = OrganizationFactory()
    stranger = make_member(other, Role.OWNER)
    client = create_api_client(organization=other, actor=stranger, name="Theirs", allowed_scopes=["connectors:read"])
    key, _ = issue_api_key(client=client, actor=stranger, name="Theirs")
    # when
    response = developer_browser.post(reverse("developers:revoke_key", args=[key.pk]))
    # then
    assert response.status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None


def test_the_credentials_page_keeps_to_a_fixed_number_of_queries(
    developer_browser, publisher, developer, organization, django_assert_max_num_queries
):
    # given
    for n in range(4):
        client = create_api_client(
            organization=organization, actor=developer, name=f"client {n}", allowed_scopes=["connectors:read"]
        )
        issue_api_key(client=client, actor=developer, name=f"key {n}")
    # when / then
    with django_assert_max_num_queries(20):
        response = developer_browser.get(CREDENTIALS)
    assert response.status_code == 200
    assert b"key 3" in response.content


def test_a_developer_may_not_register_oauth_apps(developer_browser, publisher):
    # when
    response = developer_browser.post(
        reverse("developers:create_oauth_app"), {"name": "Tool", "kind": "machine", "scopes": ["connectors:read"]}
    )
    # then
    assert response.status_code == 403
    assert not OrganizationOAuthApp.objects.exists()


def test_an_admin_registers_an_oauth_app_through_the_account_service(admin_user, publisher):
    # given
    from django.test import Client

    browser = Client()
    browser.force_login(admin_user)
    # when
    response = browser.post(
        reverse("developers:create_oauth_app"), {"name": "Tool", "kind": "machine", "scopes": ["connectors:read"]}
    )
    # then
    assert response.status_code == 200
    assert OrganizationOAuthApp.objects.get().application.name == "Tool"
    assert b'id="new-client-secret"' in response.content


def test_a_web_app_without_a_redirect_uri_is_refused(admin_user, publisher):
    # given
    from django.test import Client

    browser = Client()
    browser.force_login(admin_user)
    # when
    response = browser.post(
        reverse("developers:create_oauth_app"), {"name": "Tool", "kind": "web", "scopes": ["connectors:read"]}
    )
    # then
    assert response.status_code == 422
    assert not OrganizationOAuthApp.objects.exists()


def test_a_viewer_may_not_see_credentials(viewer_browser, publisher):
    assert viewer_browser.get(CREDENTIALS).status_code == 403
