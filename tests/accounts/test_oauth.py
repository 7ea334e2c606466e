"""The OAuth2 provider: client credentials, authorization code with PKCE, scopes, refresh rotation, revocation."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from jwcrypto import jwk, jwt
from oauth2_provider.models import AccessToken, RefreshToken

from apps.accounts import services
from apps.accounts.models import Membership
from apps.accounts.roles import Role
from apps.security.models import AuditEvent
from tests.factories.accounts import MembershipFactory, TeamFactory

REDIRECT = "https://app.example.com/callback"


@pytest.fixture
def machine_app(organization, owner):
    registration, secret = services.register_oauth_app(
        organization=organization, actor=owner, name="Reporting robot", kind="machine", scopes=["teams:read"]
    )
    return registration.application, secret


@pytest.fixture
def web_app(organization, owner):
    registration, secret = services.register_oauth_app(
        organization=organization,
        actor=owner,
        name="Dashboard",
        kind="web",
        scopes=["teams:read", "teams:write", "organization:read"],
        redirect_uris=[REDIRECT],
    )
    return registration.application, secret


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def _client_credentials(client: Client, application, secret: str, scope: str = "teams:read"):
    return client.post(
        "/o/token/",
        {"grant_type": "client_credentials", "scope": scope},
        HTTP_AUTHORIZATION=_basic(application.client_id, secret),
    )


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _authorize(client: Client, application, *, challenge: str | None, scope: str = "teams:read"):
    params = {
        "response_type": "code",
        "client_id": application.client_id,
        "redirect_uri": REDIRECT,
        "scope": scope,
        "state": "xyz",
    }
    if challenge:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    return client.post("/o/authorize/", {**params, "allow": "Authorize"})


def _user_tokens(client: Client, application, secret: str, user, scope: str = "teams:read") -> dict:
    client.force_login(user)
    verifier, challenge = _pkce()
    response = _authorize(client, application, challenge=challenge, scope=scope)
    assert response.status_code == 302, response.content
    code = parse_qs(urlsplit(response["Location"]).query)["code"][0]
    token = client.post(
        "/o/token/",
        {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier},
        HTTP_AUTHORIZATION=_basic(application.client_id, secret),
    )
    assert token.status_code == 200, token.content
    return token.json()


def test_a_machine_client_gets_a_short_lived_token_and_reads_its_organizations_teams(
    client, machine_app, organization, other_organization
):
    # given
    application, secret = machine_app
    mine = TeamFactory(organization=organization)
    foreign = TeamFactory(organization=other_organization)
    # when
    token = _client_credentials(client, application, secret).json()
    response = Client().get("/api/v1/teams/", HTTP_AUTHORIZATION=f"Bearer {token['access_token']}")
    # then
    assert token["expires_in"] == 600
    assert "refresh_token" not in token
    assert response.status_code == 200
    ids = {team["id"] for team in response.json()["results"]}
    assert ids == {str(mine.pk)}
    assert str(foreign.pk) not in response.content.decode()


def test_a_machine_token_cannot_do_what_its_scopes_do_not_cover(client, machine_app, organization):
    # given
    application, secret = machine_app
    token = _client_credentials(client, application, secret).json()["access_token"]
    # when
    response = Client().post(
        "/api/v1/teams/", {"name": "Robots"}, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    # then
    assert response.status_code == 403


def test_an_app_cannot_ask_for_a_scope_its_organization_did_not_allow(client, machine_app):
    application, secret = machine_app

    response = _client_credentials(client, application, secret, scope="teams:write")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_an_unregistered_scope_name_is_refused_at_registration(organization, owner):
    with pytest.raises(services.BusinessRuleViolation) as refused:
        services.register_oauth_app(
            organization=organization, actor=owner, name="X", kind="machine", scopes=["everything"]
        )
    assert refused.value.field == "scopes"


def test_the_authorization_code_flow_refuses_a_request_without_pkce(client, web_app, owner):
    # given
    application, _secret = web_app
    client.force_login(owner)
    # when
    response = _authorize(client, application, challenge=None)
    # then no code is handed out
    location = response.get("Location", "")
    assert "code=" not in location
    assert "error=invalid_request" in location or response.status_code == 400


def test_a_person_authorizes_an_app_with_pkce_and_it_acts_within_their_role_and_its_scopes(
    client, web_app, organization, make_member
):
    # given a viewer, who may read teams but not create them
    application, secret = web_app
    viewer = make_member(organization, Role.VIEWER)
    TeamFactory(organization=organization)
    tokens = _user_tokens(client, application, secret, viewer, scope="teams:read teams:write")
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {tokens['access_token']}"}
    # when
    read = Client().get("/api/v1/teams/", **bearer)
    write = Client().post("/api/v1/teams/", {"name": "Nope"}, content_type="application/json", **bearer)
    # then
    assert read.status_code == 200
    assert write.status_code == 403
    assert tokens["expires_in"] == 600


def test_a_token_granted_is_audited(client, machine_app, organization):
    application, secret = machine_app

    _client_credentials(client, application, secret)

    event = AuditEvent.objects.get(action="accounts.oauth_token_granted")
    assert event.organization_id == organization.pk
    assert event.data["grant"] == "client_credentials"


def test_a_refresh_token_is_rotated_on_use(client, web_app, owner):
    # given
    application, secret = web_app
    tokens = _user_tokens(client, application, secret, owner)
    # when
    refreshed = client.post(
        "/o/token/",
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        HTTP_AUTHORIZATION=_basic(application.client_id, secret),
    )
    # then
    assert refreshed.status_code == 200
    assert refreshed.json()["refresh_token"] != tokens["refresh_token"]


def test_a_reused_refresh_token_revokes_its_whole_family(client, web_app, owner):
    # given a refresh token that was used once (rotated)
    application, secret = web_app
    tokens = _user_tokens(client, application, secret, owner)
    auth = {"HTTP_AUTHORIZATION": _basic(application.client_id, secret)}
    rotated = client.post(
        "/o/token/", {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}, **auth
    )
    newest = rotated.json()
    # when the old one is presented again (a stolen copy)
    replay = client.post("/o/token/", {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}, **auth)
    # then it is refused, and the legitimate newest tokens stop working too
    assert replay.status_code == 400
    again = client.post("/o/token/", {"grant_type": "refresh_token", "refresh_token": newest["refresh_token"]}, **auth)
    assert again.status_code == 400
    api = Client().get("/api/v1/teams/", HTTP_AUTHORIZATION=f"Bearer {newest['access_token']}")
    assert api.status_code == 401
    assert not RefreshToken.objects.filter(user=owner, revoked__isnull=True).exists()


def test_a_deactivated_persons_next_api_call_answers_401(client, web_app, owner, organization, make_member):
    # given a person with a bearer token and a browser session
    application, secret = web_app
    person = make_member(organization, Role.ADMIN)
    tokens = _user_tokens(client, application, secret, person)
    browser = Client()
    browser.force_login(person)
    assert Client().get("/api/v1/teams/", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}").status_code == 200
    assert browser.get("/api/v1/teams/").status_code == 200
    # when an owner (or an automated response) deactivates them
    services.deactivate_user(user=person, actor=owner, reason="left the company")
    # then both answer 401 at once
    bearer = Client().get("/api/v1/teams/", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    assert bearer.status_code == 401
    assert browser.get("/api/v1/teams/").status_code == 401
    assert not AccessToken.objects.filter(user=person).exists()
    assert AuditEvent.objects.filter(action="accounts.user_deactivated", target_id=str(person.pk)).exists()


def test_a_token_stops_working_when_its_person_leaves_the_organization(client, web_app, owner, organization):
    # given
    application, secret = web_app
    person = MembershipFactory(organization=organization, role=Role.DEVELOPER).user
    tokens = _user_tokens(client, application, secret, person)
    # when
    Membership.objects.filter(user=person, organization=organization).delete()
    # then
    response = Client().get("/api/v1/teams/", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    assert response.status_code == 401


def test_a_person_outside_the_apps_organization_cannot_authorize_it(client, web_app, other_organization, make_member):
    # given
    application, _secret = web_app
    outsider = make_member(other_organization, Role.OWNER)
    client.force_login(outsider)
    _verifier, challenge = _pkce()
    # when
    response = _authorize(client, application, challenge=challenge)
    # then
    assert "code=" not in response.get("Location", "")


def test_a_garbage_bearer_token_answers_401(client, organization):
    response = client.get("/api/v1/teams/", HTTP_AUTHORIZATION="Bearer not-a-token")

    assert response.status_code == 401


def test_deleting_an_app_revokes_its_tokens(client, machine_app, owner):
    # given
    application, secret = machine_app
    token = _client_credentials(client, application, secret).json()["access_token"]
    # when
    services.delete_oauth_app(registration=application.registration, actor=owner)
    # then
    assert Client().get("/api/v1/teams/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401


def test_a_web_app_asking_for_openid_gets_a_signed_id_token_naming_the_person(client, web_app, owner):
    # given
    application, secret = web_app
    # when
    tokens = _user_tokens(client, application, secret, owner, scope="openid email teams:read")
    keys = jwk.JWKSet.from_json(client.get("/o/.well-known/jwks.json").content.decode())
    # then
    verified = jwt.JWT(jwt=tokens["id_token"], key=keys)
    claims = json.loads(verified.claims)
    assert claims["aud"] == application.client_id
    assert claims["email"] == owner.email
    assert "name" not in claims  # the profile scope was not asked for


def test_the_openid_discovery_document_names_our_endpoints(client):
    response = client.get("/o/.well-known/openid-configuration")

    body = response.json()
    assert response.status_code == 200
    assert body["token_endpoint"].endswith("/o/token/")
    assert "S256" in body.get("code_challenge_methods_supported", ["S256"])


def test_a_machine_client_cannot_ask_for_openid(client, machine_app):
    application, secret = machine_app

    response = _client_credentials(client, application, secret, scope="openid")

    assert response.status_code == 400


@pytest.mark.parametrize(
    "path", ["/api/v1/me/", "/api/v1/organizations/", "/api/v1/memberships/", "/api/v1/audit-events/"]
)
def test_a_machine_token_gets_a_proper_answer_from_every_kind_of_endpoint(client, organization, owner, path):
    # given a machine client allowed to read everything it could ask for here
    registration, secret = services.register_oauth_app(
        organization=organization,
        actor=owner,
        name="Auditor",
        kind="machine",
        scopes=["organization:read", "members:read", "audit:read"],
    )
    token = _client_credentials(
        client, registration.application, secret, scope="organization:read members:read audit:read"
    ).json()["access_token"]
    # when
    response = Client().get(path, HTTP_AUTHORIZATION=f"Bearer {token}")
    # then it is never a server error, and reads of its own organization work
    assert response.status_code in (200, 403), response.content[:300]
    if path != "/api/v1/me/":
        assert response.status_code == 200


def test_a_native_app_is_a_public_client_that_signs_in_with_pkce_on_a_loopback_port(client, organization, owner):
    # given a native app (a CLI) registered without a redirect URI
    registration, secret = services.register_oauth_app(
        organization=organization, actor=owner, name="nofx CLI", kind="native", scopes=["teams:read"]
    )
    application = registration.application
    redirect = "http://127.0.0.1:53121/callback"  # the CLI's listener, on a port of the moment
    client.force_login(owner)
    verifier, challenge = _pkce()
    # when it asks for a code and redeems it with the verifier alone
    answer = client.post(
        "/o/authorize/",
        {
            "response_type": "code",
            "client_id": application.client_id,
            "redirect_uri": redirect,
            "scope": "teams:read",
            "state": "s",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "allow": "Authorize",
        },
    )
    code = parse_qs(urlsplit(answer["Location"]).query)["code"][0]
    token = client.post(
        "/o/token/",
        {
            "grant_type": "authorization_code",
            "client_id": application.client_id,
            "code": code,
            "redirect_uri": redirect,
            "code_verifier": verifier,
        },
    )
    # then it has no secret and gets a token all the same
    assert secret == ""
    assert application.client_type == "public"
    assert token.status_code == 200, token.content
    assert token.json()["scope"] == "teams:read"


def test_a_native_app_may_only_redirect_to_a_loopback_address(organization, owner):
    with pytest.raises(services.BusinessRuleViolation) as refused:
        services.register_oauth_app(
            organization=organization,
            actor=owner,
            name="nofx CLI",
            kind="native",
            scopes=["teams:read"],
            redirect_uris=["https://evil.example/callback"],
        )
    assert refused.value.field == "redirect_uris"
