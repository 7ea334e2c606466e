from __future__ import annotations

import pytest
from django.contrib.admin.sites import site
from django.test import Client
from django.urls import reverse

from apps.accounts.models import Organization, User
from apps.core.exceptions import BusinessRuleViolation, Conflict
from apps.marketplace.models import Extension, ProblemReport, ProblemStatus
from apps.marketplace.services.support import close_problem_report, report_problem
from apps.security.models import AuditEvent
from tests.factories.marketplace import publish_extension


@pytest.fixture
def extension(db: None) -> Extension:
    return publish_extension(slug="acme.tickets")


def test_a_report_without_a_subject_is_refused(extension: Extension, organization: Organization, owner: User) -> None:
    with pytest.raises(BusinessRuleViolation) as refused:
        report_problem(
            organization=organization, actor=owner, extension=extension, kind="broken", subject=" ", description="x"
        )

    assert refused.value.field == "subject"
    assert not ProblemReport.objects.exists()


def test_an_unknown_kind_is_refused(extension: Extension, organization: Organization, owner: User) -> None:
    with pytest.raises(BusinessRuleViolation):
        report_problem(
            organization=organization, actor=owner, extension=extension, kind="rant", subject="s", description="d"
        )


def test_closing_a_report_is_audited_and_happens_once(
    extension: Extension, organization: Organization, owner: User
) -> None:
    report = report_problem(
        organization=organization, actor=owner, extension=extension, kind="other", subject="s", description="d"
    )

    close_problem_report(report=report, actor=None)

    assert report.status == ProblemStatus.CLOSED
    assert AuditEvent.objects.filter(action="marketplace.problem_report_closed").exists()
    with pytest.raises(Conflict):
        close_problem_report(report=report, actor=None)


def test_operators_list_and_close_reports_in_the_admin(
    extension: Extension, organization: Organization, owner: User
) -> None:
    # given an open report and a signed-in operator
    report = report_problem(
        organization=organization, actor=owner, extension=extension, kind="security", subject="Leak", description="d"
    )
    operator = User.objects.create_superuser(email="ops@example.com", password="ops-password-123")
    client = Client()
    client.force_login(operator)

    # when they open the list and run the close action
    listing = client.get(reverse("admin:marketplace_problemreport_changelist"))
    client.post(
        reverse("admin:marketplace_problemreport_changelist"),
        {"action": "close", "_selected_action": [str(report.pk)]},
    )

    # then the report was listed and is closed
    assert listing.status_code == 200
    assert "Leak" in listing.content.decode()
    report.refresh_from_db()
    assert report.status == ProblemStatus.CLOSED
    assert ProblemReport in site._registry
