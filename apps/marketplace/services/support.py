"""Customers telling a publisher about a problem with an extension; operators close the reports."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Organization, User
from apps.accounts.permissions import user_can
from apps.core.exceptions import BusinessRuleViolation, Conflict, NotPermitted
from apps.marketplace.models import (
    Extension,
    Installation,
    InstallationStatus,
    ProblemKind,
    ProblemReport,
    ProblemStatus,
)
from apps.security.services import record_audit_event


def report_problem(
    *,
    organization: Organization,
    actor: User,
    extension: Extension,
    kind: str,
    subject: str,
    description: str,
) -> ProblemReport:
    """Record a problem the organization has with an extension it installed and mail the publisher's owners."""
    if not user_can(actor, "extensions.view", organization):
        raise NotPermitted("Only members of the organization can report problems.", code="not_allowed")
    if kind not in ProblemKind.values:
        raise BusinessRuleViolation("Choose what kind of problem it is.", field="kind", code="invalid")
    subject, description = subject.strip(), description.strip()
    if not subject or len(subject) > 120:
        raise BusinessRuleViolation("A subject is 1 to 120 characters.", field="subject", code="invalid")
    if not description or len(description) > 5000:
        raise BusinessRuleViolation(
            "Describe the problem in 1 to 5,000 characters.", field="description", code="invalid"
        )
    installation = (
        Installation.objects.for_organization(organization)
        .filter(extension=extension)
        .exclude(status=InstallationStatus.UNINSTALLED)
        .first()
    )
    with transaction.atomic():
        report = ProblemReport.objects.create(
            organization=organization,
            extension=extension,
            installation=installation,
            reporter=actor,
            kind=kind,
            subject=subject,
            description=description,
        )
        record_audit_event(
            actor=actor,
            action="marketplace.problem_reported",
            target=report,
            organization=organization,
            data={"extension": extension.slug, "kind": kind},
        )
        from apps.marketplace.tasks import send_problem_report_email_task

        report_id = str(report.pk)
        transaction.on_commit(lambda: send_problem_report_email_task.delay(report_id))
    return report


def close_problem_report(*, report: ProblemReport, actor: User | None) -> ProblemReport:
    """An operator marks the report handled."""
    if report.status == ProblemStatus.CLOSED:
        raise Conflict("The report is already closed.", code="closed")
    with transaction.atomic():
        report.status = ProblemStatus.CLOSED
        report.closed_at = timezone.now()
        report.save(update_fields=["status", "closed_at", "updated_at"])
        record_audit_event(actor=actor, action="marketplace.problem_report_closed", target=report)
    return report


def notify_publisher_of_problem(*, report_id: str) -> int:
    """Mail the publisher organization's owners about a problem report, once. Returns how many were mailed."""
    from django.conf import settings
    from django.core.mail import send_mail
    from django.template.loader import render_to_string

    from apps.accounts.models import Membership
    from apps.accounts.roles import Role

    with transaction.atomic():
        report = (
            ProblemReport.objects.select_for_update(of=("self",))
            .select_related("extension__publisher", "organization")
            .filter(pk=report_id, publisher_notified_at__isnull=True)
            .first()
        )
        if report is None:
            return 0
        owners = Membership.objects.filter(
            organization_id=report.extension.publisher.organization_id, role=Role.OWNER, is_active=True
        ).select_related("user")
        recipients = sorted({m.user.email for m in owners if m.user.email})
        report.publisher_notified_at = timezone.now()
        report.save(update_fields=["publisher_notified_at", "updated_at"])
        if not recipients:
            return 0
        body = render_to_string(
            "marketplace/email/problem_report.txt", {"report": report, "SITE_URL": settings.SITE_URL}
        )
        subject = f"Problem reported with {report.extension.name}: {report.subject}"[:200]
        return send_mail(subject, body, None, recipients)
