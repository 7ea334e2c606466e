"""The gateway's revoker: a security response revokes API keys, and an operator's reversal restores them."""

from __future__ import annotations

import pytest

from apps.gateway import services
from apps.gateway.models import ApiKey
from apps.security import services as security
from apps.security.detectors import Detection
from apps.security.models import ResponseAction, ResponseKind, ResponseStatus, Severity
from tests.factories.gateway import ApiClientFactory


def _event(**subject):
    return security.raise_security_event(
        detection=Detection(
            event_type="test_rule",
            severity=Severity.HIGH,
            title="A test detection",
            dedup_key=f"test:{sorted(subject.items())}",
            detection_method="test",
            playbook=(ResponseKind.REVOKE_API_KEYS,),
            **subject,
        )
    )


def test_a_hammering_client_loses_its_keys_and_a_reversal_gives_them_back(machine, gateway_client, issue_key):
    # given two live keys and one revoked earlier by hand
    tokens = [issue_key(gateway_client)[1] for _ in range(2)]
    earlier, _ = issue_key(gateway_client)
    services.revoke_api_key(key=earlier, actor=None, reason="leaked")
    # when the security team revokes the client's keys
    event = _event(resource_type="gateway.apiclient", resource_id=str(gateway_client.pk))
    action = ResponseAction.objects.get(event=event, kind=ResponseKind.REVOKE_API_KEYS)
    # then they stop working
    assert action.status == ResponseStatus.APPLIED
    assert "Revoked 2 keys" in action.detail
    assert [machine(t).get("/api/v1/teams/").status_code for t in tokens] == [401, 401]
    # when an operator reverses the response
    security.reverse_response(action=action, actor=None)
    # then exactly those keys work again; the one revoked by hand stays revoked
    assert [machine(t).get("/api/v1/teams/").status_code for t in tokens] == [200, 200]
    assert ApiKey.objects.get(pk=earlier.pk).revoked_reason == "leaked"


def test_a_key_seen_from_distant_places_is_revoked_alone(machine, gateway_client, issue_key):
    # given
    suspect, suspect_token = issue_key(gateway_client)
    _other, other_token = issue_key(gateway_client)
    # when
    _event(resource_type="api_key", resource_id=str(suspect.pk))
    # then
    assert machine(suspect_token).get("/api/v1/teams/").status_code == 401
    assert machine(other_token).get("/api/v1/teams/").status_code == 200


def test_revoking_the_keys_of_a_vanished_client_says_so(db):
    client = ApiClientFactory()
    client_id = str(client.pk)
    client.delete()

    event = _event(resource_type="gateway.apiclient", resource_id=client_id)

    action = ResponseAction.objects.get(event=event, kind=ResponseKind.REVOKE_API_KEYS)
    assert "No API client" in action.detail


def test_restoring_needs_a_reason():
    with pytest.raises(ValueError):
        services.restore_api_keys(actor=None, revoked_reason="")
