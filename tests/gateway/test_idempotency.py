"""`Idempotency-Key` on POST: replay, conflict, bad keys, and concurrent duplicates doing the work once."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from apps.gateway import services
from apps.gateway.models import ApiKey, IdempotencyRecord
from tests.factories.gateway import ApiClientFactory, PlanFactory


def _issue(machine, token, body, key):
    return machine(token).post("/api/v1/api-keys/", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_the_same_key_and_body_replays_the_first_response(machine, key_token, gateway_client):
    # given
    body = {"client": str(gateway_client.pk), "name": "deploy bot", "scopes": ["gateway:read"]}
    # when
    first = _issue(machine, key_token, body, "retry-me-1")
    second = _issue(machine, key_token, body, "retry-me-1")
    # then one key was made, and the retry got the very same answer (its secret included)
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.content == first.content
    assert second["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert ApiKey.objects.filter(name="deploy bot").count() == 1


def test_the_same_key_with_another_body_answers_422(machine, key_token, gateway_client):
    _issue(machine, key_token, {"client": str(gateway_client.pk), "name": "one"}, "reused")

    response = _issue(machine, key_token, {"client": str(gateway_client.pk), "name": "two"}, "reused")

    assert response.status_code == 422
    assert response.json()["type"].endswith("/idempotency-key-reused")
    assert not ApiKey.objects.filter(name="two").exists()


def test_keys_are_per_client(machine, key_token, gateway_client, organization, issue_key):
    # given another client of the same organization using the same key string
    other_token = issue_key(ApiClientFactory(organization=organization, plan=PlanFactory()))[1]
    body = {"client": str(gateway_client.pk), "name": "shared"}
    # when
    _issue(machine, key_token, body, "common-key")
    other = _issue(machine, other_token, body, "common-key")
    # then the second client's request was its own
    assert other.status_code == 201
    assert "Idempotent-Replayed" not in other
    assert ApiKey.objects.filter(name="shared").count() == 2


def test_a_malformed_key_answers_400(machine, key_token, gateway_client):
    response = _issue(machine, key_token, {"client": str(gateway_client.pk), "name": "x"}, "has space")

    assert response.status_code == 400
    assert response.json()["type"].endswith("/invalid-idempotency-key")


def test_a_request_still_in_progress_answers_409(machine, key_token, gateway_client):
    # given a claim that another worker holds right now
    body = {"client": str(gateway_client.pk), "name": "slow"}
    first = _issue(machine, key_token, body, "busy")
    IdempotencyRecord.objects.filter(key="busy").update(state="in_progress")
    # when
    response = _issue(machine, key_token, body, "busy")
    # then
    assert first.status_code == 201
    assert response.status_code == 409
    assert response["Retry-After"] == "1"


def test_refused_requests_are_replayed_too(machine, key_token, gateway_client):
    body = {"client": str(gateway_client.pk), "name": "bad", "scopes": ["no-such-scope"]}

    first = _issue(machine, key_token, body, "bad-request")
    second = _issue(machine, key_token, body, "bad-request")

    assert (first.status_code, second.status_code) == (400, 400)
    assert second["Idempotent-Replayed"] == "true"


def test_an_expired_record_lets_the_key_be_used_afresh(machine, key_token, gateway_client):
    body = {"client": str(gateway_client.pk), "name": "daily"}
    _issue(machine, key_token, body, "daily-key")
    IdempotencyRecord.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    again = _issue(machine, key_token, body, "daily-key")

    assert again.status_code == 201
    assert "Idempotent-Replayed" not in again
    assert ApiKey.objects.filter(name="daily").count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_produce_one_side_effect(organization, roomy_plan):
    # given a client and a request that five threads send at the same moment with one key
    client_row = ApiClientFactory(organization=organization, plan=roomy_plan)
    _key, token = services.issue_api_key(client=client_row, actor=None, name="caller")
    body = json.dumps({"client": str(client_row.pk), "name": "made once"})
    start = threading.Barrier(5)
    statuses: list[int] = []

    def send() -> None:
        try:
            start.wait()
            response = Client().post(
                "/api/v1/api-keys/",
                body,
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {token}",
                HTTP_IDEMPOTENCY_KEY="once-only",
            )
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(5)]
    # when
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # then exactly one key was made; the others were told to wait (409) or got the first answer (201)
    assert ApiKey.objects.filter(name="made once").count() == 1
    assert len(statuses) == 5
    assert set(statuses) <= {201, 409}
    assert IdempotencyRecord.objects.filter(key="once-only").count() == 1
