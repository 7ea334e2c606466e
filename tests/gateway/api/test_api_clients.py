"""The API of API clients and keys, as people in the console and machines use it."""

from __future__ import annotations

from apps.gateway.models import ApiClient, ApiKey
from apps.gateway.selectors import DEFAULT_PLAN
from apps.security.models import AuditEvent
from tests.factories.gateway import ApiClientFactory, ApiKeyFactory, ClientCertificateFactory


def test_an_owner_creates_a_client_on_the_default_plan(owner_client, owner):
    # when
    response = owner_client.post(
        "/api/v1/api-clients/",
        {"name": "ERP", "allowed_scopes": ["connectors:execute", "gateway:read"], "ip_allowlist": ["10.0.0.1"]},
    )
    # then
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["plan"]["slug"] == DEFAULT_PLAN["slug"]
    assert body["ip_allowlist"] == ["10.0.0.1/32"]
    assert body["allowed_scopes"] == ["connectors:execute", "gateway:read"]
    assert body["owner"] == str(owner.pk)
    assert AuditEvent.objects.filter(action="gateway.client_created").count() == 1


def test_an_unknown_scope_is_refused(owner_client):
    response = owner_client.post("/api/v1/api-clients/", {"name": "ERP", "allowed_scopes": ["root"]})

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"].startswith("allowed_scopes")


def test_nobody_grants_a_client_more_than_they_hold(api_client, make_member, organization):
    # given a developer, who may manage API clients but not teams
    developer = make_member(organization, "developer")
    api_client.force_authenticate(developer)
    # when
    response = api_client.post("/api/v1/api-clients/", {"name": "Bot", "allowed_scopes": ["teams:write"]})
    # then
    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "scope_beyond"
    assert not ApiClient.objects.exists()


def test_a_viewer_cannot_create_clients(api_client, viewer):
    api_client.force_authenticate(viewer)

    response = api_client.post("/api/v1/api-clients/", {"name": "ERP"})

    assert response.status_code == 403


def test_client_names_are_unique_in_an_organization(owner_client, organization):
    ApiClientFactory(organization=organization, name="ERP")

    response = owner_client.post("/api/v1/api-clients/", {"name": "ERP"})

    assert response.status_code == 409


def test_a_client_is_suspended_and_resumed(owner_client, gateway_client):
    suspended = owner_client.patch(f"/api/v1/api-clients/{gateway_client.pk}/", {"status": "suspended"})
    resumed = owner_client.patch(f"/api/v1/api-clients/{gateway_client.pk}/", {"status": "active"})

    assert (suspended.json()["status"], resumed.json()["status"]) == ("suspended", "active")


def test_listing_clients_takes_a_constant_number_of_queries(owner_client, organization, django_assert_max_num_queries):
    for _ in range(6):
        ApiClientFactory(organization=organization)

    with django_assert_max_num_queries(6):
        response = owner_client.get("/api/v1/api-clients/")

    assert len(response.json()["results"]) == 6


def test_a_key_is_issued_with_its_secret_once(owner_client, gateway_client):
    # when
    created = owner_client.post(
        "/api/v1/api-keys/", {"client": str(gateway_client.pk), "name": "CI", "scopes": ["gateway:read"]}
    )
    listed = owner_client.get("/api/v1/api-keys/")
    # then
    assert created.status_code == 201
    assert created["Cache-Control"] == "no-store"
    token = created.json()["token"]
    assert token.startswith(created.json()["prefix"] + "_")
    assert "token" not in listed.json()["results"][0]
    assert token not in listed.content.decode()


def test_a_key_may_not_carry_scopes_its_client_lacks(owner_client, organization):
    narrow = ApiClientFactory(organization=organization, allowed_scopes=["gateway:read"])

    response = owner_client.post(
        "/api/v1/api-keys/", {"client": str(narrow.pk), "name": "CI", "scopes": ["connectors:execute"]}
    )

    assert response.status_code == 422
    assert not ApiKey.objects.exists()


def test_a_key_for_another_organizations_client_is_refused(owner_client, other_organization):
    foreign = ApiClientFactory(organization=other_organization)

    response = owner_client.post("/api/v1/api-keys/", {"client": str(foreign.pk), "name": "sneaky"})

    assert response.status_code == 400
    assert not ApiKey.objects.exists()


def test_an_expiry_in_the_past_is_refused(owner_client, gateway_client):
    response = owner_client.post(
        "/api/v1/api-keys/", {"client": str(gateway_client.pk), "name": "CI", "expires_at": "2001-01-01T00:00:00Z"}
    )

    assert response.status_code == 422


def test_a_key_is_rotated_and_revoked_through_the_api(owner_client, machine, gateway_client, issue_key):
    # given
    key, token = issue_key(gateway_client)
    # when
    rotated = owner_client.post(f"/api/v1/api-keys/{key.pk}/rotate/", {"overlap_seconds": 0})
    revoked = owner_client.post(f"/api/v1/api-keys/{rotated.json()['id']}/revoke/", {"reason": "done"})
    # then
    assert rotated.status_code == 201
    assert rotated.json()["replaces"] == str(key.pk)
    assert machine(token).get("/api/v1/teams/").status_code == 401  # no overlap asked for
    assert revoked.json()["status"] == "revoked"
    assert machine(rotated.json()["token"]).get("/api/v1/teams/").status_code == 401


def test_a_machine_cannot_mint_a_key_beyond_its_own_scopes(machine, gateway_client, issue_key):
    # given a key that may manage keys but not read the audit log
    _key, token = issue_key(gateway_client, scopes=["gateway:read", "gateway:write"])
    # when
    response = machine(token).post(
        "/api/v1/api-keys/", {"client": str(gateway_client.pk), "name": "escalate", "scopes": ["audit:read"]}
    )
    # then
    assert response.status_code == 403
    assert not ApiKey.objects.filter(name="escalate").exists()


def test_listing_keys_takes_a_constant_number_of_queries(owner_client, gateway_client, django_assert_max_num_queries):
    for _ in range(6):
        ApiKeyFactory(client=gateway_client)

    with django_assert_max_num_queries(6):
        response = owner_client.get(f"/api/v1/api-keys/?client={gateway_client.pk}&revoked=false")

    assert len(response.json()["results"]) == 6


def test_listing_certificates_takes_a_constant_number_of_queries(
    owner_client, gateway_client, django_assert_max_num_queries
):
    for _ in range(4):
        ClientCertificateFactory(client=gateway_client)

    with django_assert_max_num_queries(6):
        response = owner_client.get("/api/v1/client-certificates/")

    assert len(response.json()["results"]) == 4
