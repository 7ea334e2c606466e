"""OAuth2 bearer tokens answer to a locked person, their organization's IP rules and its home region."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import AccessToken

from apps.accounts import services
from apps.accounts.models import Organization
from apps.security import services as security
from apps.security.models import AccountLock, IPRuleAction
from tests.factories.regions import RegionFactory

pytestmark = pytest.mark.django_db

EU = "https://eu-west.nofx.example"


def _machine_token(organization, owner) -> str:
    registration, secret = services.register_oauth_app(
        organization=organization, actor=owner, name="Robot", kind="machine", scopes=["teams:read"]
    )
    basic = base64.b64encode(f"{registration.application.client_id}:{secret}".encode()).decode()
    answer = Client().post(
        "/o/token/", {"grant_type": "client_credentials", "scope": "teams:read"}, HTTP_AUTHORIZATION=f"Basic {basic}"
    )
    return str(answer.json()["access_token"])


def _persons_token(organization, owner) -> str:
    registration, _secret = services.register_oauth_app(
        organization=organization, actor=owner, name="Web", kind="machine", scopes=["teams:read"]
    )
    AccessToken.objects.create(
        user=owner,
        application=registration.application,
        token="person-token-" + "x" * 30,
        scope="teams:read",
        expires=timezone.now() + dt.timedelta(hours=1),
    )
    return "person-token-" + "x" * 30


def _get(token: str, address: str = "127.0.0.1"):
    return Client(REMOTE_ADDR=address).get("/api/v1/teams/", HTTP_AUTHORIZATION=f"Bearer {token}")


def test_a_locked_persons_token_is_refused_and_works_again_once_the_lock_is_lifted(organization, owner):
    # given a person's token that works
    token = _persons_token(organization, owner)
    assert _get(token).status_code == 200
    # when the security team locks the person
    lock = AccountLock.objects.create(user=owner, reason="test", locked_until=timezone.now() + dt.timedelta(hours=1))
    from apps.security.user_state import forget_user_state

    forget_user_state(owner.pk)
    # then their token is refused
    refused = _get(token)
    assert refused.status_code == 401
    assert refused.json()["type"].endswith("/account-locked")
    # and once the lock is lifted it works again
    security.lift_account_lock(lock=lock, actor=None)
    assert _get(token).status_code == 200


def test_a_token_from_an_address_the_organization_denies_gets_403(organization, owner):
    token = _machine_token(organization, owner)
    security.create_ip_rule(organization=organization, cidr="127.0.0.66/32", action=IPRuleAction.DENY, actor=None)

    refused = _get(token, "127.0.0.66")

    assert refused.status_code == 403
    assert refused.json()["type"].endswith("/ip-denied")
    assert _get(token, "127.0.0.67").status_code == 200


def test_a_token_of_an_organization_homed_elsewhere_is_sent_to_its_region(organization, owner):
    # given a token of an organization that has since moved to another region
    token = _machine_token(organization, owner)
    RegionFactory(code="eu-west", public_url=EU)
    Organization.objects.filter(pk=organization.pk).update(home_region_code="eu-west")
    # when
    response = _get(token)
    # then
    assert response.status_code == 307
    assert response["Location"] == f"{EU}/api/v1/teams/"
    assert response.json()["region"] == "eu-west"
