"""Gateway calls, 429 answers and API-key use reach the security detectors."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.security import services as security
from apps.security.models import SecurityEvent
from tests.factories.gateway import ApiClientFactory, PlanFactory


@pytest.fixture
def low_thresholds(settings):
    settings.SECURITY_DETECTOR_THRESHOLDS = {"hammering_429s": 5}


def _keyed(token: str, address: str) -> APIClient:
    client = APIClient(REMOTE_ADDR=address)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_a_storm_of_429s_raises_the_hammering_event(organization, issue_key, low_thresholds):
    # given a client with a burst of 2
    tight = ApiClientFactory(organization=organization, plan=PlanFactory(rate_per_minute=60, burst=2))
    client = _keyed(issue_key(tight)[1], "127.0.0.20")
    # when it keeps calling after being refused
    codes = [client.get("/api/v1/teams/").status_code for _ in range(2 + 5)]
    # then
    assert codes.count(429) == 5
    event = SecurityEvent.objects.get(event_type="api_hammering")
    assert (event.resource_id, event.source_ip, event.organization) == (str(tight.pk), "127.0.0.20", organization)


def test_calls_within_the_limit_raise_nothing(organization, gateway_client, key_token, low_thresholds):
    client = _keyed(key_token, "127.0.0.21")

    codes = [client.get("/api/v1/teams/").status_code for _ in range(6)]

    assert codes == [200] * 6
    assert not SecurityEvent.objects.exists()


def test_an_api_key_used_from_two_distant_networks_raises_an_event(gateway_client, issue_key):
    # given
    key, token = issue_key(gateway_client)
    # when the same key calls from two /16 networks
    assert _keyed(token, "127.0.0.22").get("/api/v1/teams/").status_code == 200
    assert _keyed(token, "127.8.0.22").get("/api/v1/teams/").status_code == 200
    # then
    event = SecurityEvent.objects.get(event_type="token_distant_ips")
    assert (event.resource_type, event.resource_id) == ("api_key", str(key.pk))


def test_a_failing_detector_never_breaks_an_api_call(gateway_client, key_token, monkeypatch, caplog):
    # given
    def broken(**kwargs):
        raise RuntimeError("detector down")

    monkeypatch.setattr(security, "observe_token_use", broken)
    monkeypatch.setattr("apps.gateway.middleware.observe_api_request", broken)
    # when
    response = _keyed(key_token, "127.0.0.23").get("/api/v1/teams/")
    # then
    assert response.status_code == 200
    assert caplog.text.count("Security observation") == 2


def test_issuing_a_key_soon_after_a_role_raise_is_a_privilege_escalation(
    organization, owner, gateway_client, django_capture_on_commit_callbacks
):
    from apps.accounts.services import change_member_role
    from apps.gateway import services
    from tests.factories.accounts import MembershipFactory

    # given a viewer just raised to admin
    membership = MembershipFactory(organization=organization, role="viewer")
    with django_capture_on_commit_callbacks(execute=True):
        change_member_role(membership=membership, role="admin", actor=owner)
    # when they mint an API key
    with django_capture_on_commit_callbacks(execute=True):
        services.issue_api_key(client=gateway_client, actor=membership.user, name="mine", scopes=["teams:write"])
    # then
    event = SecurityEvent.objects.get(event_type="privilege_escalation")
    assert event.data["action"] == "gateway.key_issued"
