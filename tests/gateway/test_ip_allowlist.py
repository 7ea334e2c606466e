"""A client with an IP allow-list is served only from those addresses."""

from apps.gateway import services


def test_a_call_from_an_allowed_address_is_served(machine, gateway_client, key_token):
    services.update_api_client(client=gateway_client, actor=None, ip_allowlist=["10.1.0.0/16"])

    response = machine(key_token, REMOTE_ADDR="10.1.2.3").get("/api/v1/teams/")

    assert response.status_code == 200


def test_a_call_from_another_address_answers_403(machine, gateway_client, key_token):
    services.update_api_client(client=gateway_client, actor=None, ip_allowlist=["10.1.0.0/16", "2001:db8::/32"])

    response = machine(key_token, REMOTE_ADDR="10.2.0.1").get("/api/v1/teams/")

    assert response.status_code == 403
    assert response.json()["type"].endswith("/ip-not-allowed")


def test_behind_a_trusted_proxy_the_forwarded_address_counts(machine, gateway_client, key_token, settings):
    # given nginx at 172.20.0.2, the client behind it
    settings.TRUSTED_PROXIES = ["172.20.0.0/24"]
    services.update_api_client(client=gateway_client, actor=None, ip_allowlist=["198.51.100.7"])
    # when
    allowed = machine(key_token, REMOTE_ADDR="172.20.0.2", HTTP_X_FORWARDED_FOR="198.51.100.7")
    refused = machine(key_token, REMOTE_ADDR="172.20.0.2", HTTP_X_FORWARDED_FOR="198.51.100.8")
    # then
    assert allowed.get("/api/v1/teams/").status_code == 200
    assert refused.get("/api/v1/teams/").status_code == 403


def test_a_forwarded_address_from_an_untrusted_peer_is_ignored(machine, gateway_client, key_token, settings):
    # given a caller who claims to be forwarding for an allowed address
    settings.TRUSTED_PROXIES = ["172.20.0.0/24"]
    services.update_api_client(client=gateway_client, actor=None, ip_allowlist=["198.51.100.7"])
    # when
    response = machine(key_token, REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="198.51.100.7").get("/api/v1/teams/")
    # then
    assert response.status_code == 403


def test_a_caller_seen_as_an_ipv4_mapped_ipv6_address_matches_its_ipv4_allow_list(machine, gateway_client, key_token):
    services.update_api_client(client=gateway_client, actor=None, ip_allowlist=["10.1.0.0/16"])

    response = machine(key_token, REMOTE_ADDR="::ffff:10.1.2.3").get("/api/v1/teams/")

    assert response.status_code == 200


def test_a_bad_cidr_is_refused_when_saved(owner_client, gateway_client):
    response = owner_client.patch(f"/api/v1/api-clients/{gateway_client.pk}/", {"ip_allowlist": ["10.0.0.0/33"]})

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"].startswith("ip_allowlist")
