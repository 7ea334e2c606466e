"""Support tickets: publishers open and reply in the portal, operators answer in the admin."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from apps.developers.models import SupportTicket, TicketMessage, TicketStatus
from apps.developers.services import answer_ticket
from tests.factories.accounts import UserFactory
from tests.factories.developers import SupportTicketFactory, TicketMessageFactory
from tests.factories.marketplace import PublisherFactory

pytestmark = pytest.mark.django_db

TICKETS = "/developers/support/"


def test_a_publisher_opens_a_ticket(developer_browser, publisher):
    # when
    response = developer_browser.post(TICKETS, {"subject": "Verification", "body": "When are we verified?"})
    # then
    ticket = SupportTicket.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("developers:ticket", args=[ticket.pk])
    assert ticket.publisher == publisher
    assert ticket.status == TicketStatus.OPEN
    assert ticket.messages.get().body == "When are we verified?"


def test_it_refuses_a_ticket_without_a_message(developer_browser, publisher):
    # when
    response = developer_browser.post(TICKETS, {"subject": "Verification", "body": "   "})
    # then
    assert response.status_code == 400
    assert not SupportTicket.objects.exists()


def test_ticket_text_with_markup_is_escaped(developer_browser, publisher):
    # given
    developer_browser.post(TICKETS, {"subject": "<i>x</i>", "body": "<script>alert(1)</script>"})
    ticket = SupportTicket.objects.get()
    # when
    response = developer_browser.get(reverse("developers:ticket", args=[ticket.pk]))
    # then
    assert b"<script>alert(1)</script>" not in response.content
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in response.content
    assert b"<i>x</i>" not in response.content


def test_the_ticket_list_keeps_to_a_fixed_number_of_queries(
    developer_browser, publisher, django_assert_max_num_queries
):
    # given
    SupportTicketFactory.create_batch(5, publisher=publisher)
    # when / then
    with django_assert_max_num_queries(15):
        response = developer_browser.get(TICKETS)
    assert response.status_code == 200
    assert response.content.count(b"Question ") >= 5


def test_the_ticket_page_keeps_to_a_fixed_number_of_queries(
    developer_browser, publisher, developer, django_assert_max_num_queries
):
    # given
    ticket = SupportTicketFactory(publisher=publisher)
    TicketMessageFactory.create_batch(6, ticket=ticket, author=developer)
    # when / then
    with django_assert_max_num_queries(15):
        assert developer_browser.get(reverse("developers:ticket", args=[ticket.pk])).status_code == 200


def test_another_publishers_ticket_is_not_found(developer_browser, publisher):
    # given
    foreign = SupportTicketFactory(publisher=PublisherFactory())
    # when / then
    assert developer_browser.get(reverse("developers:ticket", args=[foreign.pk])).status_code == 404
    assert developer_browser.post(reverse("developers:ticket", args=[foreign.pk]), {"body": "hi"}).status_code == 404


def test_a_reply_reopens_a_closed_ticket(developer_browser, publisher):
    # given
    ticket = SupportTicketFactory(publisher=publisher, status=TicketStatus.CLOSED)
    # when
    response = developer_browser.post(reverse("developers:ticket", args=[ticket.pk]), {"body": "Still broken."})
    # then
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.OPEN


def test_a_publisher_closes_a_ticket(developer_browser, publisher):
    # given
    ticket = SupportTicketFactory(publisher=publisher)
    # when
    developer_browser.post(reverse("developers:ticket", args=[ticket.pk]), {"action": "close"})
    # then
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.CLOSED


def test_an_operators_answer_marks_the_ticket_answered_and_emails_the_publisher(
    publisher, developer, django_capture_on_commit_callbacks
):
    # given
    ticket = SupportTicketFactory(publisher=publisher, opened_by=developer)
    operator = UserFactory(is_staff=True)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        answer_ticket(ticket=ticket, actor=operator, body="You are verified now.")
    # then
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.ANSWERED
    assert TicketMessage.objects.filter(ticket=ticket, from_operator=True).count() == 1
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [developer.email]
    assert "You are verified now." in mail.outbox[0].body


def test_operators_answer_in_the_admin(publisher, developer, django_capture_on_commit_callbacks):
    # given
    from django.test import Client

    ticket = SupportTicketFactory(publisher=publisher, opened_by=developer)
    operator = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(operator)
    url = reverse("admin:developers_supportticket_change", args=[ticket.pk])
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url,
            {
                "answer": "Fixed on our side.",
                "messages-TOTAL_FORMS": "0",
                "messages-INITIAL_FORMS": "0",
                "messages-MIN_NUM_FORMS": "0",
                "messages-MAX_NUM_FORMS": "1000",
            },
        )
    # then
    assert response.status_code == 302, response.content[:2000]
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.ANSWERED
    assert len(mail.outbox) == 1


def test_operators_close_tickets_with_an_admin_action(publisher):
    # given
    from django.test import Client

    tickets = SupportTicketFactory.create_batch(2, publisher=publisher)
    operator = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(operator)
    # when
    client.post(
        reverse("admin:developers_supportticket_changelist"),
        {"action": "close_tickets", "_selected_action": [str(t.pk) for t in tickets]},
    )
    # then
    assert set(SupportTicket.objects.values_list("status", flat=True)) == {TicketStatus.CLOSED}
