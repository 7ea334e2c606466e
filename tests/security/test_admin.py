"""The operators' queue in the admin: list, assign, note, resolve, reverse a response."""

import pytest

from apps.security.models import EventStatus, ResponseStatus, SecurityEventNote
from tests.factories.accounts import UserFactory
from tests.factories.security import IPRuleFactory, ResponseActionFactory, SecurityEventFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator_client(client):
    operator = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(operator)
    client.operator = operator
    return client


def test_the_queue_lists_events_and_opens_one_with_its_responses(operator_client, django_assert_max_num_queries):
    event = SecurityEventFactory()
    ResponseActionFactory(event=event)
    for _ in range(10):
        SecurityEventFactory()

    with django_assert_max_num_queries(12):
        listing = operator_client.get("/admin/security/securityevent/")
    detail = operator_client.get(f"/admin/security/securityevent/{event.pk}/change/")

    assert listing.status_code == 200
    assert detail.status_code == 200
    assert b"Add a note" in detail.content


def test_an_operator_assigns_notes_and_resolves_from_the_change_form(operator_client):
    event = SecurityEventFactory()

    response = operator_client.post(
        f"/admin/security/securityevent/{event.pk}/change/",
        {
            "assigned_to": str(operator_client.operator.pk),
            "new_note": "Called the customer; it was their pen test.",
            "resolution_text": "Authorised penetration test.",
            "responses-TOTAL_FORMS": "0",
            "responses-INITIAL_FORMS": "0",
            "notes-TOTAL_FORMS": "0",
            "notes-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302
    event.refresh_from_db()
    assert event.assigned_to == operator_client.operator
    assert event.status == EventStatus.RESOLVED
    assert SecurityEventNote.objects.get(event=event).body.startswith("Called the customer")


def test_the_assign_to_me_and_reverse_actions(operator_client):
    event = SecurityEventFactory()
    action = ResponseActionFactory(event=event)

    operator_client.post(
        "/admin/security/securityevent/", {"action": "assign_to_me", "_selected_action": [str(event.pk)]}
    )
    operator_client.post("/admin/security/responseaction/", {"action": "reverse", "_selected_action": [str(action.pk)]})

    event.refresh_from_db()
    action.refresh_from_db()
    assert (event.assigned_to, event.status) == (operator_client.operator, EventStatus.INVESTIGATING)
    assert action.status == ResponseStatus.REVERSED


def test_global_ip_rules_are_made_in_the_admin_through_the_service(operator_client):
    response = operator_client.post(
        "/admin/security/iprule/add/", {"cidr": "203.0.113.0/24", "action": "deny", "note": "botnet"}
    )
    IPRuleFactory(organization=None, cidr="198.51.100.0/24")

    assert response.status_code == 302
    assert operator_client.get("/", REMOTE_ADDR="203.0.113.9").status_code == 403
    assert operator_client.get("/admin/security/iprule/").status_code == 200
