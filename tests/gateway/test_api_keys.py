"""API keys: good, wrong, malformed, expired, revoked, wrong scope, wrong organization, rotation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.core.exceptions import Conflict
from apps.gateway import services
from apps.gateway.credentials import hash_secret, parse_key
from apps.gateway.models import ApiKey, ClientStatus
from apps.security.models import AuditEvent
from tests.factories.accounts import TeamFactory
from tests.factories.gateway import ApiClientFactory


def _problem_code(response):
    return response.json()["type"].rsplit("/", 1)[-1]


def test_a_good_key_reads_its_organizations_teams(machine, key_token, organization, other_organization):
    # given
    mine = TeamFactory(organization=organization)
    TeamFactory(organization=other_organization)
    # when
    response = machine(key_token).get("/api/v1/teams/")
    # then
    assert response.status_code == 200
    assert [team["id"] for team in response.json()["results"]] == [str(mine.pk)]


def test_a_key_is_accepted_in_the_x_api_key_header(key_token):
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=key_token)

    response = client.get("/api/v1/teams/")

    assert response.status_code == 200


def test_the_key_is_shown_once_and_only_its_hash_is_stored(gateway_client, issue_key):
    # when
    key, token = issue_key(gateway_client)
    # then
    parsed = parse_key(token)
    assert token.startswith("nofx_test_")
    assert parsed is not None
    assert parsed.key_id == key.key_id
    stored = ApiKey.objects.get(pk=key.pk)
    assert stored.secret_hash == hash_secret(parsed.secret)
    assert parsed.secret not in str(stored.__dict__.values())


def test_a_wrong_secret_answers_401_with_a_challenge(machine, key_token):
    # given the right key id with another secret
    wrong = key_token[:-4] + ("AAAA" if not key_token.endswith("AAAA") else "BBBB")
    # when
    response = machine(wrong).get("/api/v1/teams/")
    # then
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"].startswith('Bearer realm="nofx", error="invalid_token"')
    assert _problem_code(response) == "invalid-api-key"


def test_a_malformed_key_answers_401(machine):
    response = machine("nofx_test_short_secret").get("/api/v1/teams/")

    assert response.status_code == 401
    assert _problem_code(response) == "invalid-api-key"


def test_a_key_of_another_environment_answers_401(machine, key_token):
    # given a live key on this test deployment
    live = key_token.replace("nofx_test_", "nofx_live_", 1)

    response = machine(live).get("/api/v1/teams/")

    assert response.status_code == 401
    assert _problem_code(response) == "wrong-key-environment"


def test_an_expired_key_answers_401(machine, gateway_client, issue_key):
    # given
    key, token = issue_key(gateway_client, expires_at=timezone.now() + timedelta(minutes=5))
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    # when
    response = machine(token).get("/api/v1/teams/")
    # then
    assert response.status_code == 401
    assert _problem_code(response) == "expired-api-key"
    assert "WWW-Authenticate" in response


def test_a_revoked_key_answers_401(machine, gateway_client, issue_key):
    key, token = issue_key(gateway_client)
    services.revoke_api_key(key=key, actor=None, reason="leaked")

    response = machine(token).get("/api/v1/teams/")

    assert response.status_code == 401
    assert _problem_code(response) == "revoked-api-key"


def test_no_credentials_answer_401_with_a_bearer_challenge(api_client, db):
    response = api_client.get("/api/v1/teams/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="nofx"'


def test_a_key_without_the_needed_scope_answers_403(machine, gateway_client, issue_key):
    # given a key that may only read gateway data
    _key, token = issue_key(gateway_client, scopes=["gateway:read"])
    # when
    response = machine(token).get("/api/v1/teams/")
    # then
    assert response.status_code == 403
    assert "teams.view" in response.json()["detail"]


def test_narrowing_the_clients_scopes_narrows_its_keys_at_once(machine, gateway_client, key_token):
    services.update_api_client(client=gateway_client, actor=None, allowed_scopes=["gateway:read"])

    response = machine(key_token).get("/api/v1/teams/")

    assert response.status_code == 403


def test_a_key_never_reaches_another_organizations_objects(machine, key_token, other_organization):
    # given
    foreign = TeamFactory(organization=other_organization)
    # when the client asks for the object, even naming the other organization
    response = machine(key_token, HTTP_X_ORGANIZATION=other_organization.slug).get(f"/api/v1/teams/{foreign.pk}/")
    # then
    assert response.status_code == 404


def test_a_key_of_a_suspended_client_answers_403(machine, gateway_client, key_token):
    services.update_api_client(client=gateway_client, actor=None, status=ClientStatus.SUSPENDED)

    response = machine(key_token).get("/api/v1/teams/")

    assert response.status_code == 403
    assert _problem_code(response) == "client-suspended"


def test_a_key_of_a_deactivated_organization_answers_401(machine, organization, key_token):
    organization.is_active = False
    organization.save()

    response = machine(key_token).get("/api/v1/teams/")

    assert response.status_code == 401


def test_person_only_endpoints_refuse_api_clients(machine, key_token):
    assert machine(key_token).get("/api/v1/me/").status_code == 403
    assert machine(key_token).post("/api/v1/organizations/", {"name": "Robot Corp"}).status_code == 403


def test_an_api_client_reads_only_its_own_organization_and_only_with_the_scope(
    machine, organization, other_organization, gateway_client, issue_key
):
    # given one key with organization:read and one without
    with_scope = issue_key(gateway_client, scopes=["organization:read"])[1]
    without = issue_key(gateway_client, scopes=["teams:write"])[1]
    # when
    listed = machine(with_scope).get("/api/v1/organizations/")
    refused = machine(without).get("/api/v1/organizations/")
    # then
    assert [o["id"] for o in listed.json()["results"]] == [str(organization.pk)]
    assert refused.status_code == 403


def test_a_key_writes_within_its_scopes_and_is_the_audited_actor(machine, key_token, gateway_client):
    # when
    response = machine(key_token).post("/api/v1/teams/", {"name": "Robots"})
    # then
    assert response.status_code == 201
    event = AuditEvent.objects.get(action="accounts.team_created")
    assert (event.actor_type, event.actor_id) == ("api_client", str(gateway_client.pk))


def test_last_use_is_written_at_most_once_a_minute(machine, gateway_client, issue_key):
    # given
    key, token = issue_key(gateway_client)
    client = machine(token)
    client.get("/api/v1/teams/")
    first = ApiKey.objects.get(pk=key.pk).last_used_at
    # when
    client.get("/api/v1/teams/")
    # then
    assert first is not None
    assert ApiKey.objects.get(pk=key.pk).last_used_at == first


def test_a_rotated_key_works_beside_its_replacement_for_the_overlap(machine, gateway_client, issue_key):
    # given
    old, old_token = issue_key(gateway_client)
    # when
    new, new_token = services.rotate_api_key(key=old, actor=None, overlap=timedelta(hours=1))
    # then both work during the overlap
    assert machine(old_token).get("/api/v1/teams/").status_code == 200
    assert machine(new_token).get("/api/v1/teams/").status_code == 200
    assert new.replaces_id == old.pk
    # and after it only the new one does
    ApiKey.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert machine(old_token).get("/api/v1/teams/").status_code == 401
    assert machine(new_token).get("/api/v1/teams/").status_code == 200


def test_a_key_cannot_be_rotated_twice(gateway_client, issue_key):
    old, _ = issue_key(gateway_client)
    services.rotate_api_key(key=old, actor=None)

    with pytest.raises(Conflict):
        services.rotate_api_key(key=old, actor=None)


def test_the_security_team_revokes_every_key_of_an_organization(machine, organization, gateway_client, issue_key):
    # given two clients with keys, and a foreign key that must survive
    other_client = ApiClientFactory(organization=organization)
    _a, token_a = issue_key(gateway_client)
    _b, token_b = issue_key(other_client)
    foreign, _ = issue_key(ApiClientFactory())
    # when
    count = services.revoke_api_keys(organization=organization, actor=None, reason="credential stuffing")
    # then
    assert count == 2
    assert machine(token_a).get("/api/v1/teams/").status_code == 401
    assert machine(token_b).get("/api/v1/teams/").status_code == 401
    assert ApiKey.objects.get(pk=foreign.pk).revoked_at is None
    assert AuditEvent.objects.filter(action="gateway.keys_revoked_in_bulk").count() == 1


def test_revoking_one_clients_keys_leaves_its_siblings(organization, gateway_client, issue_key):
    sibling = ApiClientFactory(organization=organization)
    mine, _ = issue_key(gateway_client)
    theirs, _ = issue_key(sibling)

    services.revoke_api_keys(client=gateway_client, actor=None, reason="suspicious")

    assert ApiKey.objects.get(pk=mine.pk).revoked_at is not None
    assert ApiKey.objects.get(pk=theirs.pk).revoked_at is None
