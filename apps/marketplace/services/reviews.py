"""Reviews: only organizations that have (or recently had) an extension installed may review it; one review
per organization, tied to the version it ran, editable; publishers reply; operators moderate reports."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from apps.accounts.models import Organization, User
from apps.accounts.permissions import user_can
from apps.core.exceptions import BusinessRuleViolation, Conflict, NotPermitted
from apps.marketplace.models import (
    Extension,
    Installation,
    InstallationStatus,
    ReportStatus,
    Review,
    ReviewReport,
    ReviewStatus,
)
from apps.marketplace.services.catalog import _apply_ranking
from apps.security.services import record_audit_event


def reviewable_installation(*, organization: Organization, extension: Extension) -> Installation | None:
    """The installation that entitles the organization to review: live now, or uninstalled within the
    review window, and activated at least once."""
    since = timezone.now() - settings.MARKETPLACE_REVIEW_WINDOW
    return (
        Installation.objects.for_organization(organization)
        .filter(extension=extension, activated_at__isnull=False)
        .filter(~Q(status=InstallationStatus.UNINSTALLED) | Q(uninstalled_at__gte=since))
        .select_related("version")
        .order_by("-created_at")
        .first()
    )


def _validate(rating: int, title: str, body: str) -> None:
    if not isinstance(rating, int) or not 1 <= rating <= 5:
        raise BusinessRuleViolation("A rating is a whole number of stars from 1 to 5.", field="rating", code="invalid")
    if len(title) > 120:
        raise BusinessRuleViolation("The title is at most 120 characters.", field="title", code="max_length")
    if len(body) > 5000:
        raise BusinessRuleViolation("The review is at most 5,000 characters.", field="body", code="max_length")


def refresh_rating(*, extension_id: Any) -> None:
    """Recount the visible reviews into the extension's rating and ranking."""
    extension = Extension.objects.select_for_update().select_related("publisher").get(pk=extension_id)
    totals = Review.objects.filter(extension_id=extension_id, status=ReviewStatus.VISIBLE).aggregate(
        n=Count("id"), total=Sum("rating")
    )
    extension.rating_count = totals["n"] or 0
    extension.rating_sum = totals["total"] or 0
    _apply_ranking(extension, timezone.now())
    extension.save(update_fields=["rating_count", "rating_sum", "bayesian_rating", "quality_score", "ranking_penalty"])


def submit_review(
    *, organization: Organization, actor: User, extension: Extension, rating: int, title: str = "", body: str = ""
) -> Review:
    """The organization's one review of the extension, tied to the version it has installed."""
    if not user_can(actor, "extensions.install", organization):
        raise NotPermitted("Only members who manage extensions can review them.", code="not_allowed")
    installation = reviewable_installation(organization=organization, extension=extension)
    if installation is None:
        raise NotPermitted(
            "Only organizations that have this extension installed (or uninstalled it recently) can review it.",
            code="not_installed",
        )
    _validate(rating, title, body)
    try:
        with transaction.atomic():
            review = Review.objects.create(
                organization=organization,
                extension=extension,
                version=installation.version,
                author=actor,
                rating=rating,
                title=title.strip(),
                body=body.strip(),
            )
            record_audit_event(
                actor=actor,
                action="marketplace.review_submitted",
                target=review,
                organization=organization,
                data={"extension": extension.slug, "rating": rating},
            )
            refresh_rating(extension_id=extension.pk)
    except IntegrityError as exc:
        raise Conflict(
            "Your organization has already reviewed this extension; edit that review instead.", code="already_reviewed"
        ) from exc
    return review


def edit_review(
    *, review: Review, actor: User, rating: int | None = None, title: str | None = None, body: str | None = None
) -> Review:
    """Change the organization's review; it is re-tied to the version installed now."""
    if not user_can(actor, "extensions.install", review.organization):
        raise NotPermitted("Only members who manage extensions can edit reviews.", code="not_allowed")
    installation = reviewable_installation(organization=review.organization, extension=review.extension)
    if installation is None:
        raise NotPermitted("The review window for this extension has closed.", code="not_installed")
    new_rating = review.rating if rating is None else rating
    new_title = review.title if title is None else title
    new_body = review.body if body is None else body
    _validate(new_rating, new_title, new_body)
    with transaction.atomic():
        review.rating, review.title, review.body = new_rating, new_title.strip(), new_body.strip()
        review.version = installation.version
        review.edited_at = timezone.now()
        review.save()
        record_audit_event(actor=actor, action="marketplace.review_edited", target=review, data={"rating": new_rating})
        refresh_rating(extension_id=review.extension_id)
    return review


def reply_to_review(*, review: Review, actor: User, publisher_organization: Organization, text: str) -> Review:
    """The publisher's public reply (replaces an earlier one)."""
    if review.extension.publisher.organization_id != publisher_organization.pk or not user_can(
        actor, "extensions.publish", publisher_organization
    ):
        raise NotPermitted("Only the extension's publisher can reply.", code="not_publisher")
    if not text.strip() or len(text) > 5000:
        raise BusinessRuleViolation("A reply is 1 to 5,000 characters.", field="text", code="invalid")
    with transaction.atomic():
        review.reply = text.strip()
        review.replied_at = timezone.now()
        review.save(update_fields=["reply", "replied_at", "updated_at"])
        record_audit_event(
            actor=actor, action="marketplace.review_replied", target=review, organization=publisher_organization
        )
    return review


def report_review(*, review: Review, organization: Organization, actor: User, reason: str) -> ReviewReport:
    """Flag a review for the operators' moderation queue (once per organization)."""
    if not reason.strip():
        raise BusinessRuleViolation("Say what is wrong with the review.", field="reason", code="required")
    try:
        with transaction.atomic():
            report = ReviewReport.objects.create(
                organization=organization, review=review, reporter=actor, reason=reason.strip()[:2000]
            )
            record_audit_event(
                actor=actor,
                action="marketplace.review_reported",
                target=report,
                organization=organization,
                data={"review": str(review.pk)},
            )
    except IntegrityError as exc:
        raise Conflict("Your organization has already reported this review.", code="already_reported") from exc
    return report


def _set_review_status(review: Review, status: str, actor: User | None, action: str) -> Review:
    with transaction.atomic():
        review.status = status
        review.save(update_fields=["status", "updated_at"])
        record_audit_event(actor=actor, action=action, target=review)
        refresh_rating(extension_id=review.extension_id)
    return review


def hide_review(*, review: Review, actor: User | None) -> Review:
    """Moderation: the review disappears from the catalog and from the rating."""
    return _set_review_status(review, ReviewStatus.HIDDEN, actor, "marketplace.review_hidden")


def restore_review(*, review: Review, actor: User | None) -> Review:
    return _set_review_status(review, ReviewStatus.VISIBLE, actor, "marketplace.review_restored")


def resolve_report(*, report: ReviewReport, actor: User | None, uphold: bool) -> ReviewReport:
    """Uphold (hide the review) or dismiss a report."""
    if report.status != ReportStatus.OPEN:
        raise Conflict("The report is already resolved.", code="resolved")
    with transaction.atomic():
        report.status = ReportStatus.UPHELD if uphold else ReportStatus.DISMISSED
        report.resolved_at = timezone.now()
        report.save(update_fields=["status", "resolved_at", "updated_at"])
        record_audit_event(
            actor=actor, action="marketplace.review_report_resolved", target=report, data={"upheld": uphold}
        )
        if uphold:
            hide_review(review=report.review, actor=actor)
    return report
