"""Connector actions through the gateway, against the GitHub sandbox on loopback."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.test import Client, RequestFactory
from django.utils.crypto import get_random_string

from apps.gateway import services
from apps.gateway.models import UsageRecord
from apps.regions.models import RuleEffect
from apps.security.models import AuditEvent
from tests.factories.connectors import ConnectorFactory
from tests.factories.regions import RegionFactory, ResidencyRuleFactory


def _url(connector, action="comment_on_issue"):
    return f"/api/v1/connectors/{connector.pk}/actions/{action}/"


def test_an_action_runs_on_the_vendor_and_answers_its_output(machine, key_token, github_connector, github_sandbox):
    # when
    response = machine(key_token).post(_url(github_connector), {"issue_number": 1, "body": "From the gateway"})
    # then
    assert response.status_code == 200, response.content
    output = response.json()
    assert set(output) >= {"id", "url"}
    assert [c["body"] for c in github_sandbox.comments.values()] == ["From the gateway"]
    assert output["id"] in github_sandbox.comments
    assert response["RateLimit-Limit"]


def test_input_off_the_actions_schema_answers_422_with_every_violation(machine, key_token, github_connector):
    response = machine(key_token).post(_url(github_connector), {"issue_number": 0, "colour": "red"})

    assert response.status_code == 422
    problem = response.json()
    assert problem["type"].endswith("/action-input-invalid")
    fields = {error["field"] for error in problem["errors"]}
    assert {"input.issue_number", "input.body"} <= fields
    assert len(problem["errors"]) >= 3  # too small, missing body, unexpected property


def test_the_clients_request_transform_shapes_the_input(machine, gateway_client, key_token, github_connector):
    # given a client whose system calls the fields `issue` and `text`
    services.update_api_client(
        client=gateway_client,
        actor=None,
        request_transform={"comment_on_issue": [{"rename": {"issue": "issue_number", "text": "body"}}]},
    )
    # when
    response = machine(key_token).post(_url(github_connector), {"issue": 1, "text": "Renamed on the way in"})
    # then
    assert response.status_code == 200, response.content


def test_the_clients_response_transform_shapes_the_output(machine, gateway_client, key_token, github_connector):
    services.update_api_client(
        client=gateway_client,
        actor=None,
        response_transform={"*": [{"jmespath": "{comment_id: id, link: url}"}, {"default": {"source": "github"}}]},
    )

    response = machine(key_token).post(_url(github_connector), {"issue_number": 1, "body": "Shaped on the way out"})

    assert response.status_code == 200
    assert set(response.json()) == {"comment_id", "link", "source"}
    assert response.json()["source"] == "github"


def test_a_key_without_the_execute_scope_answers_403(machine, gateway_client, issue_key, github_connector):
    _key, token = issue_key(gateway_client, scopes=["connectors:read"])

    response = machine(token).post(_url(github_connector), {"issue_number": 1, "body": "x"})

    assert response.status_code == 403


def test_another_organizations_connector_answers_404(machine, key_token, other_organization):
    foreign = ConnectorFactory(organization=other_organization)

    response = machine(key_token).post(_url(foreign), {"issue_number": 1, "body": "x"})

    assert response.status_code == 404


def test_an_action_the_connector_does_not_offer_answers_422(machine, key_token, github_connector):
    response = machine(key_token).post(_url(github_connector, "drop_database"), {})

    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "unknown_action"


def test_a_vendor_refusing_our_credentials_answers_502(machine, key_token, github_connector):
    github_connector.credentials = {"token": "ghp_revoked"}
    github_connector.save()

    response = machine(key_token).post(_url(github_connector), {"issue_number": 1, "body": "x"})

    assert response.status_code == 502
    assert response.json()["type"].endswith("/authentication-failed")


def test_the_call_is_recorded_as_usage_and_audited(machine, gateway_client, key_token, github_connector):
    machine(key_token).post(_url(github_connector), {"issue_number": 1, "body": "Counted"})

    record = UsageRecord.objects.get(client=gateway_client)
    assert record.operation == f"connector:{github_connector.pk}/comment_on_issue"
    assert (record.method, record.status_code) == ("POST", 200)
    assert record.bytes_in > 0
    assert record.bytes_out > 0
    event = AuditEvent.objects.get(action="connectors.action_invoked")
    assert (event.actor_type, event.actor_id) == ("api_client", str(gateway_client.pk))


@pytest.mark.parametrize("body", [[1, 2], "text"])
def test_a_body_that_is_not_an_object_answers_400(machine, key_token, github_connector, body):
    response = machine(key_token).post(_url(github_connector), body, format="json")

    assert response.status_code == 400


def test_a_person_in_the_console_may_run_an_action_too(owner_client, github_connector):
    response = owner_client.post(_url(github_connector), {"issue_number": 1, "body": "By hand"})

    assert response.status_code == 200
    assert not UsageRecord.objects.exists()


@pytest.fixture
def eu_only_rule(organization):
    region = RegionFactory(code=organization.home_region_code)
    return ResidencyRuleFactory(
        region=region, effect=RuleEffect.ALLOW, location_pattern="eu-*", reason="GDPR: EU/EEA only"
    )


def test_a_rule_forbidding_the_connectors_location_answers_451_naming_the_rule(
    machine, key_token, github_connector, github_sandbox, eu_only_rule, organization
):
    # given a connector declaring a US location, and a rule allowing only EU locations
    github_connector.data_region = "us-east"
    github_connector.save(update_fields=["data_region"])
    github_sandbox.log.clear()
    # when
    response = machine(key_token).post(_url(github_connector), {"issue_number": 1, "body": "Payroll figures"})
    # then nothing reached the vendor, and the problem names the rule and the refused location
    assert response.status_code == 451, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"].endswith("/residency-refused")
    assert problem["rule_id"] == str(eu_only_rule.pk)
    assert problem["destination_location"] == "us-east"
    assert "GDPR: EU/EEA only" in problem["detail"]
    assert github_sandbox.comments == {}
    assert [call for call in github_sandbox.log if call.method == "POST"] == []
    assert AuditEvent.objects.filter(action="regions.residency_refused", chain=str(organization.pk)).count() == 1
    assert not AuditEvent.objects.filter(action="connectors.action_invoked").exists()


def test_a_connector_in_an_allowed_location_runs_the_action(
    machine, key_token, github_connector, github_sandbox, eu_only_rule
):
    # given
    github_connector.data_region = "eu-central"
    github_connector.save(update_fields=["data_region"])
    # when
    response = machine(key_token).post(_url(github_connector), {"issue_number": 1, "body": "Allowed"})
    # then
    assert response.status_code == 200, response.content
    assert [c["body"] for c in github_sandbox.comments.values()] == ["Allowed"]


@pytest.fixture
def wsgi_handler(connections_kept_across_requests):
    """Django's WSGI entry point, used as a server uses it: the response is closed only once it is sent."""
    from django.core.handlers.wsgi import WSGIHandler

    return WSGIHandler()


def test_a_machine_calls_bookkeeping_is_written_once_the_response_is_sent(
    wsgi_handler, key_token, github_connector, gateway_client
):
    # given
    request = RequestFactory().post(
        _url(github_connector),
        data=json.dumps({"issue_number": 1, "body": "Answered first"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key_token}",
    )
    # when the server has the answer but has not closed it yet
    response = wsgi_handler(request.environ, lambda status, headers: None)
    # then the caller's answer does not wait for the audit event and the usage record
    assert response.status_code == 200
    assert not AuditEvent.objects.filter(action="connectors.action_invoked").exists()
    assert not UsageRecord.objects.exists()
    response.close()
    event = AuditEvent.objects.get(action="connectors.action_invoked")
    assert (event.actor_type, event.actor_id) == ("api_client", str(gateway_client.pk))
    assert event.request_id == response["X-Request-ID"]
    assert UsageRecord.objects.get().status_code == 200


def test_a_person_in_the_console_is_audited_before_the_answer(wsgi_handler, owner, github_connector):
    # given a signed-in person's session and CSRF token, as a browser sends them
    browser = Client()
    browser.force_login(owner)
    csrf = get_random_string(32)
    request = RequestFactory().post(
        _url(github_connector),
        data=json.dumps({"issue_number": 1, "body": "By hand"}),
        content_type="application/json",
        HTTP_COOKIE=f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}; "
        f"{settings.CSRF_COOKIE_NAME}={csrf}",
        HTTP_X_CSRFTOKEN=csrf,
    )
    # when the server has the answer but has not closed it yet
    response = wsgi_handler(request.environ, lambda status, headers: None)
    # then the person's action is already in the audit log: only machine calls defer their bookkeeping
    assert response.status_code == 200, response.content
    assert AuditEvent.objects.filter(action="connectors.action_invoked", actor_type="user").count() == 1
    response.close()


@pytest.mark.postgres
def test_a_failed_audit_write_after_the_answer_is_logged_and_the_answer_stands(
    machine, key_token, github_connector, table_down, caplog
):
    # when the action is called while the audit log cannot be written
    with table_down(AuditEvent):
        response = machine(key_token).post(_url(github_connector), {"issue_number": 1, "body": "Sent anyway"})
    # then the vendor has the comment, the caller was told so, and the failure is in the log
    assert response.status_code == 200
    assert "Work after the response failed" in caplog.text
