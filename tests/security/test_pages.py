"""The organization's security pages: events with their responses, and in-app alerts."""

import re

import pytest

from apps.accounts.roles import Role
from apps.security import services
from apps.security.detectors import Detection
from apps.security.models import ResponseKind, SecurityNotification, Severity
from tests.factories.accounts import MembershipFactory
from tests.factories.security import ResponseActionFactory, SecurityEventFactory

pytestmark = pytest.mark.django_db


def _page(response, status=200):
    assert response.status_code == status
    body = response.content.decode()
    assert "INVALID_TEMPLATE_VARIABLE" not in body
    return re.sub(r"\s+", " ", body)


def test_admins_see_their_events_with_responses_and_their_unread_alerts(client):
    # given a detection in the organization that notified its owner
    owner = MembershipFactory(role=Role.OWNER)
    event = services.raise_security_event(
        detection=Detection(
            event_type="mass_export",
            severity=Severity.HIGH,
            title="10000 records exported in 10 minutes by one person",
            dedup_key="x",
            detection_method="inline:records_exported_per_user",
            organization=owner.organization,
            user=owner.user,
            playbook=(ResponseKind.NOTIFY, ResponseKind.REQUIRE_REAUTH),
        )
    )
    SecurityEventFactory(title="Someone else's event")
    client.force_login(owner.user)
    # when
    overview = _page(client.get("/security/"))
    detail = _page(client.get(f"/security/events/{event.pk}/"))
    # then
    assert "10000 records exported" in overview
    assert "Someone else" not in overview
    assert "Your alerts" in overview
    assert "Require re-authentication" in detail
    assert "inline:records_exported_per_user" in detail


def test_marking_alerts_read_empties_the_list(client):
    owner = MembershipFactory(role=Role.OWNER)
    event = SecurityEventFactory(organization=owner.organization)
    SecurityNotification.objects.create(organization=owner.organization, recipient=owner.user, event=event)
    client.force_login(owner.user)

    response = client.post("/security/alerts/read/")

    assert response.status_code == 302
    assert "Your alerts" not in _page(client.get("/security/"))


def test_viewers_and_other_organizations_cannot_see_events(client):
    viewer = MembershipFactory(role=Role.VIEWER)
    foreign = SecurityEventFactory()
    owner = MembershipFactory(role=Role.OWNER)

    client.force_login(viewer.user)
    assert client.get("/security/").status_code == 403
    client.force_login(owner.user)
    assert client.get(f"/security/events/{foreign.pk}/").status_code == 404


def test_the_security_page_needs_the_same_queries_however_many_events(client, django_assert_max_num_queries):
    owner = MembershipFactory(role=Role.OWNER)
    for _ in range(15):
        ResponseActionFactory(event__organization=owner.organization)
    client.force_login(owner.user)

    with django_assert_max_num_queries(12):
        _page(client.get("/security/"))
