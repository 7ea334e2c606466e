"""Operators' marketplace: the moderation queue, quarantine decisions, rule switches, publishers' verification,
review reports, installations and webhook redelivery. Actions call services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.accounts.models import User
from apps.core.exceptions import BusinessRuleViolation
from apps.marketplace import services
from apps.marketplace.models import (
    AnalyticsEvent,
    Category,
    Extension,
    ExtensionVersion,
    Installation,
    ProblemReport,
    ProblemStatus,
    Publisher,
    ReportStatus,
    Review,
    ReviewReport,
    RuleSetting,
    VersionStatus,
    WebhookDelivery,
)
from nofx_sdk import rules


def _operator(request: HttpRequest) -> User:
    """The signed-in staff member (the admin only serves authenticated staff)."""
    return request.user  # type: ignore[return-value]


def _each(modeladmin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[Any], act: Any) -> None:
    done = 0
    for obj in queryset:
        try:
            act(obj)
            done += 1
        except BusinessRuleViolation as exc:
            modeladmin.message_user(request, f"{obj}: {exc.message}", messages.WARNING)
    if done:
        modeladmin.message_user(request, f"{done} done.")


@admin.register(Publisher)
class PublisherAdmin(admin.ModelAdmin[Publisher]):
    list_display = ("name", "slug", "organization", "verification", "verified_at", "created_at")
    list_filter = ("verification",)
    search_fields = ("name", "=slug")
    list_select_related = ("organization",)
    raw_id_fields = ("organization",)
    readonly_fields = ("verification", "verified_at", "accepted_terms_at")
    actions = ["verify", "unverify"]

    @admin.action(description="Verify the selected publishers")
    def verify(self, request: HttpRequest, queryset: QuerySet[Publisher]) -> None:
        _each(
            self,
            request,
            queryset,
            lambda p: services.verify_publisher(publisher=p, actor=_operator(request), verified=True),
        )

    @admin.action(description="Withdraw verification")
    def unverify(self, request: HttpRequest, queryset: QuerySet[Publisher]) -> None:
        _each(
            self,
            request,
            queryset,
            lambda p: services.verify_publisher(publisher=p, actor=_operator(request), verified=False),
        )


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin[Category]):
    list_display = ("name", "slug")
    search_fields = ("name", "=slug")


@admin.register(Extension)
class ExtensionAdmin(admin.ModelAdmin[Extension]):
    list_display = (
        "slug",
        "name",
        "type",
        "publisher",
        "latest_version",
        "is_certified",
        "is_deprecated",
        "is_delisted",
        "active_installs",
        "bayesian_rating",
    )
    list_filter = ("type", "pricing", "support_level", "is_certified", "is_deprecated", "is_delisted")
    search_fields = ("=slug", "name")
    list_select_related = ("publisher", "latest_version")
    raw_id_fields = ("publisher", "category", "latest_version")
    readonly_fields = (
        "latest_version",
        "active_installs",
        "total_installs",
        "downloads",
        "rating_count",
        "rating_sum",
        "bayesian_rating",
        "quality_score",
        "ranking_penalty",
        "published_at",
    )
    exclude = ("search_vector",)
    show_full_result_count = False
    actions = ["delist", "relist"]

    @admin.action(description="Delist from the catalog")
    def delist(self, request: HttpRequest, queryset: QuerySet[Extension]) -> None:
        for extension in queryset.select_related("publisher"):
            services.set_delisted(extension=extension, actor=_operator(request), delisted=True)

    @admin.action(description="List in the catalog again")
    def relist(self, request: HttpRequest, queryset: QuerySet[Extension]) -> None:
        for extension in queryset.select_related("publisher"):
            services.set_delisted(extension=extension, actor=_operator(request), delisted=False)


class ModerationQueueFilter(admin.SimpleListFilter):
    title = "queue"
    parameter_name = "queue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("quarantined", "Quarantined (awaiting a decision)"), ("in_pipeline", "In the pipeline")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "quarantined":
            return queryset.filter(status=VersionStatus.QUARANTINED)
        if self.value() == "in_pipeline":
            return queryset.filter(
                status__in=(
                    VersionStatus.PENDING,
                    VersionStatus.VALIDATING,
                    VersionStatus.SCANNING,
                    VersionStatus.TESTING,
                )
            )
        return queryset


@admin.register(ExtensionVersion)
class ExtensionVersionAdmin(admin.ModelAdmin[ExtensionVersion]):
    """The moderation queue: filter by "Quarantined", read the findings, release or reject."""

    list_display = ("extension", "version", "status", "status_reason", "certified_at", "created_at")
    list_filter = (ModerationQueueFilter, "status")
    search_fields = ("=extension__slug", "=sha256")
    list_select_related = ("extension",)
    raw_id_fields = ("extension", "uploaded_by")
    readonly_fields = tuple(
        f.name for f in ExtensionVersion._meta.get_fields() if getattr(f, "concrete", False) and f.name != "id"
    )
    show_full_result_count = False
    actions = ["release", "reject", "yank", "rescan"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # versions are uploaded by publishers, never made here

    @admin.action(description="Release from quarantine (publish or pass)")
    def release(self, request: HttpRequest, queryset: QuerySet[ExtensionVersion]) -> None:
        _each(
            self,
            request,
            queryset,
            lambda v: services.decide_quarantine(version=v, actor=_operator(request), release=True),
        )

    @admin.action(description="Reject from quarantine")
    def reject(self, request: HttpRequest, queryset: QuerySet[ExtensionVersion]) -> None:
        _each(
            self,
            request,
            queryset,
            lambda v: services.decide_quarantine(version=v, actor=_operator(request), release=False),
        )

    @admin.action(description="Yank (no new installs)")
    def yank(self, request: HttpRequest, queryset: QuerySet[ExtensionVersion]) -> None:
        _each(
            self,
            request,
            queryset,
            lambda v: services.yank_version(version=v, actor=_operator(request), reason="Yanked by an operator."),
        )

    @admin.action(description="Rescan all published versions now")
    def rescan(self, request: HttpRequest, queryset: QuerySet[ExtensionVersion]) -> None:
        count = services.rescan_published_versions(force=True)
        self.message_user(request, f"{count} published versions rescanned.")


@admin.register(RuleSetting)
class RuleSettingAdmin(admin.ModelAdmin[RuleSetting]):
    """Rule switches. Saving one goes through the service, so it is audited and triggers the rescan."""

    list_display = ("rule_id", "title", "mode", "changed_by", "updated_at")
    list_filter = ("mode",)
    readonly_fields = ("changed_by",)
    fields = ("rule_id", "mode", "note", "changed_by")

    @admin.display(description="rule")
    def title(self, obj: RuleSetting) -> str:
        rule = rules.RULES.get(obj.rule_id)
        return rule.title if rule else "(unknown rule)"

    def save_model(self, request: HttpRequest, obj: RuleSetting, form: Any, change: bool) -> None:
        setting = services.set_rule_mode(rule_id=obj.rule_id, mode=obj.mode, actor=_operator(request), note=obj.note)
        obj.pk = setting.pk


@admin.register(Installation)
class InstallationAdmin(admin.ModelAdmin[Installation]):
    list_display = ("extension", "organization", "version", "status", "pending_version", "plan", "created_at")
    list_filter = ("status",)
    search_fields = ("=extension__slug", "=organization__slug")
    list_select_related = ("extension", "organization", "version", "pending_version")
    raw_id_fields = ("organization", "extension", "version", "pending_version", "installed_by")
    readonly_fields = (
        "token_hash",
        "token_prefix",
        "token_issued_at",
        "webhook_secret",
        "secret_config",
        "granted_permissions",
    )
    show_full_result_count = False
    actions = ["disable"]

    @admin.action(description="Disable (operator decision)")
    def disable(self, request: HttpRequest, queryset: QuerySet[Installation]) -> None:
        _each(
            self,
            request,
            queryset,
            lambda i: services.disable_installation(
                installation=i, actor=_operator(request), reason="Disabled by an operator."
            ),
        )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin[WebhookDelivery]):
    list_display = ("event", "installation", "status", "attempts", "last_status_code", "next_attempt_at", "created_at")
    list_filter = ("status", "event")
    list_select_related = ("installation",)
    raw_id_fields = ("organization", "installation")
    readonly_fields = ("payload", "attempts", "last_attempt_at", "last_status_code", "last_error", "delivered_at")
    show_full_result_count = False
    actions = ["redeliver"]

    @admin.action(description="Redeliver")
    def redeliver(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        _each(self, request, queryset, lambda d: services.redeliver_webhook(delivery=d, actor=_operator(request)))


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin[Review]):
    list_display = ("extension", "organization", "rating", "title", "status", "created_at")
    list_filter = ("status", "rating")
    search_fields = ("=extension__slug", "title")
    list_select_related = ("extension", "organization")
    raw_id_fields = ("organization", "extension", "version", "author")
    show_full_result_count = False
    actions = ["hide", "restore"]

    @admin.action(description="Hide (moderation)")
    def hide(self, request: HttpRequest, queryset: QuerySet[Review]) -> None:
        _each(self, request, queryset, lambda r: services.hide_review(review=r, actor=_operator(request)))

    @admin.action(description="Restore")
    def restore(self, request: HttpRequest, queryset: QuerySet[Review]) -> None:
        _each(self, request, queryset, lambda r: services.restore_review(review=r, actor=_operator(request)))


@admin.register(ReviewReport)
class ReviewReportAdmin(admin.ModelAdmin[ReviewReport]):
    list_display = ("review", "organization", "status", "reason", "created_at")
    list_filter = ("status",)
    list_select_related = ("review", "organization")
    raw_id_fields = ("organization", "review", "reporter")
    actions = ["uphold", "dismiss"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ReviewReport]:
        return super().get_queryset(request).order_by("-status", "-created_at")

    @admin.action(description="Uphold (hide the review)")
    def uphold(self, request: HttpRequest, queryset: QuerySet[ReviewReport]) -> None:
        open_reports = queryset.filter(status=ReportStatus.OPEN)
        _each(
            self,
            request,
            open_reports,
            lambda r: services.resolve_report(report=r, actor=_operator(request), uphold=True),
        )

    @admin.action(description="Dismiss")
    def dismiss(self, request: HttpRequest, queryset: QuerySet[ReviewReport]) -> None:
        open_reports = queryset.filter(status=ReportStatus.OPEN)
        _each(
            self,
            request,
            open_reports,
            lambda r: services.resolve_report(report=r, actor=_operator(request), uphold=False),
        )


@admin.register(AnalyticsEvent)
class AnalyticsEventAdmin(admin.ModelAdmin[AnalyticsEvent]):
    list_display = ("day", "kind", "extension", "quantity", "amount_cents", "currency", "region_code")
    list_filter = ("kind",)
    search_fields = ("=extension__slug",)
    list_select_related = ("extension",)
    raw_id_fields = ("extension", "version", "organization")
    date_hierarchy = "day"
    show_full_result_count = False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ProblemReport)
class ProblemReportAdmin(admin.ModelAdmin[ProblemReport]):
    list_display = ("subject", "extension", "organization", "kind", "status", "created_at")
    list_filter = ("status", "kind")
    search_fields = ("=extension__slug", "subject")
    list_select_related = ("extension", "organization")
    raw_id_fields = ("organization", "extension", "installation", "reporter")
    readonly_fields = ("status", "closed_at", "publisher_notified_at")
    show_full_result_count = False
    actions = ["close"]

    @admin.action(description="Close (handled)")
    def close(self, request: HttpRequest, queryset: QuerySet[ProblemReport]) -> None:
        open_reports = queryset.filter(status=ProblemStatus.OPEN)
        _each(self, request, open_reports, lambda r: services.close_problem_report(report=r, actor=_operator(request)))
