from __future__ import annotations

from typing import Any

from django.core import mail
from django.test import Client
from django.urls import reverse

from apps.accounts.models import Organization
from apps.accounts.roles import Role
from apps.marketplace.models import Extension, ProblemReport
from apps.security.models import AuditEvent
from tests.factories.accounts import MembershipFactory
from tests.factories.marketplace import make_installation
from tests.marketplace.pages.conftest import INVALID


def _url(extension: Extension) -> str:
    return reverse("marketplace:report_problem", args=[extension.slug])


def test_a_member_reports_a_problem_and_the_publishers_owners_are_mailed(
    extension: Extension,
    organization: Organization,
    viewer_client_of_org: Client,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given the publisher organization has an owner and a developer, and the customer runs the extension
    publisher_org = extension.publisher.organization
    owner = MembershipFactory(organization=publisher_org, role=Role.OWNER).user
    MembershipFactory(organization=publisher_org, role=Role.DEVELOPER)
    installation = make_installation(organization=organization, extension=extension)
    assert INVALID not in viewer_client_of_org.get(_url(extension)).content.decode()

    # when a member reports a problem
    with django_capture_on_commit_callbacks(execute=True):
        response = viewer_client_of_org.post(
            _url(extension), {"kind": "broken", "subject": "Sync stops", "description": "Nothing since Monday."}
        )

    # then it is recorded against their installation, audited, and only the owner is mailed
    assert response.status_code == 302
    report = ProblemReport.objects.get()
    assert (report.organization, report.installation, report.subject) == (organization, installation, "Sync stops")
    assert report.publisher_notified_at is not None
    assert AuditEvent.objects.filter(action="marketplace.problem_reported").exists()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [owner.email]
    assert "Nothing since Monday." in mail.outbox[0].body


def test_the_publisher_is_mailed_once_even_if_the_task_runs_again(
    extension: Extension, organization: Organization, viewer_client_of_org: Client
) -> None:
    from apps.marketplace.services.support import notify_publisher_of_problem

    MembershipFactory(organization=extension.publisher.organization, role=Role.OWNER)
    viewer_client_of_org.post(_url(extension), {"kind": "other", "subject": "Hi", "description": "Question"})
    report = ProblemReport.objects.get()
    notify_publisher_of_problem(report_id=str(report.pk))
    sent = len(mail.outbox)

    assert notify_publisher_of_problem(report_id=str(report.pk)) == 0
    assert len(mail.outbox) == sent


def test_an_incomplete_report_is_refused_next_to_its_fields(extension: Extension, viewer_client_of_org: Client) -> None:
    response = viewer_client_of_org.post(_url(extension), {"kind": "made-up", "subject": "", "description": ""})

    body = response.content.decode()
    assert response.status_code == 400
    assert "Select a valid choice" in body
    assert "This field is required." in body
    assert not ProblemReport.objects.exists()


def test_a_problem_report_needs_sign_in(client: Client, extension: Extension) -> None:
    response = client.post(_url(extension), {"kind": "broken", "subject": "x", "description": "y"})

    assert response.status_code == 302
    assert not ProblemReport.objects.exists()


def test_the_report_form_queries_are_bounded(
    extension: Extension, viewer_client_of_org: Client, django_assert_max_num_queries: Any
) -> None:
    with django_assert_max_num_queries(6):
        assert viewer_client_of_org.get(_url(extension)).status_code == 200
