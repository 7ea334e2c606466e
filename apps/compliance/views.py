"""The compliance pages: overview with the score trend, an assessment, its printable report, CSV and bundle.

Every page needs `compliance.view` in the active organization; uploading evidence needs `compliance.manage`.
Objects of other organizations answer 404.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.models import Organization
from apps.accounts.permissions import user_can
from apps.accounts.tenancy import request_organization
from apps.compliance import reports, services
from apps.compliance.checks import CHECKS
from apps.compliance.forms import EvidenceUploadForm
from apps.compliance.models import Assessment, ComplianceScore, Evidence
from apps.compliance.selectors import assessment_report as build_report
from apps.compliance.selectors import latest_check_results, open_findings, score_trend
from apps.core.exceptions import BusinessRuleViolation
from apps.security.observers import observe_quietly
from apps.security.services import observe_export

CHART_WIDTH = 1000
CHART_HEIGHT = 220
CHART_PADDING = 36


def _organization(request: HttpRequest, perm: str = "compliance.view") -> Organization:
    organization = request_organization(request)
    if organization is None:
        raise Http404("No organization.")
    if not user_can(request.user, perm, organization):
        raise PermissionDenied("Your role does not include compliance.")
    return organization


def _assessment(request: HttpRequest, pk: Any, perm: str = "compliance.view") -> Assessment:
    organization = _organization(request, perm)
    return get_object_or_404(
        Assessment.objects.for_organization(organization).select_related("framework", "organization"), pk=pk
    )


def _observe_export(request: HttpRequest, assessment: Assessment, resource_type: str, *, records: int) -> None:
    """Downloads of compliance reports count towards the mass-export and escalation rules."""
    observe_quietly(
        observe_export,
        user=request.user,
        organization=assessment.organization,
        resource_type=resource_type,
        records=records,
    )


def trend_chart(scores: list[ComplianceScore], days: int = 30) -> dict[str, Any]:
    """Points of an SVG line chart of daily scores (0-100 %) over the last `days` days."""
    today = timezone.localdate()
    inner_w = CHART_WIDTH - 2 * CHART_PADDING
    inner_h = CHART_HEIGHT - 2 * CHART_PADDING
    points = []
    for score in scores:
        if score.score is None:
            continue
        offset = days - 1 - (today - score.date).days
        x = CHART_PADDING + inner_w * offset / max(days - 1, 1)
        y = CHART_PADDING + inner_h * (1 - float(score.score) / 100)
        points.append({"x": round(x, 1), "y": round(y, 1), "score": score.score, "date": score.date})
    gridlines = [{"y": round(CHART_PADDING + inner_h * (1 - value / 100), 1), "label": value} for value in (0, 50, 100)]
    first = today - dt.timedelta(days=days - 1)
    return {
        "first_day": first,
        "last_day": today,
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "points": points,
        "polyline": " ".join(f"{p['x']},{p['y']}" for p in points),
        "gridlines": gridlines,
        "left": CHART_PADDING,
        "right": CHART_WIDTH - CHART_PADDING,
    }


@login_required
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    """Where the organization stands: today's score and its trend, every control check, open findings."""
    organization = _organization(request)
    latest = latest_check_results(organization)
    trend = score_trend(organization)
    today = trend[-1] if trend and trend[-1].date == timezone.localdate() else None
    checks = [{"check": check, "result": latest.get(code)} for code, check in CHECKS.items()]
    context = {
        "organization": organization,
        "checks": checks,
        "today": today,
        "chart": trend_chart(trend),
        "findings": list(open_findings(organization)[:50]),
        "assessments": list(
            Assessment.objects.for_organization(organization).select_related("framework").order_by("-created_at")[:50]
        ),
        "can_manage": user_can(request.user, "compliance.manage", organization),
        "can_view_security": user_can(request.user, "security.view", organization),
    }
    return render(request, "compliance/overview.html", context)


def _detail(
    request: HttpRequest, assessment: Assessment, form: EvidenceUploadForm | None = None, status: int = 200
) -> HttpResponse:
    organization = assessment.organization
    can_manage = user_can(request.user, "compliance.manage", organization)
    context = {
        "assessment": assessment,
        "report": build_report(assessment),
        "can_manage": can_manage,
        "form": form or (EvidenceUploadForm(assessment=assessment) if can_manage else None),
    }
    return render(request, "compliance/assessment.html", context, status=status)


@login_required
@require_GET
def assessment_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    return _detail(request, _assessment(request, pk))


@login_required
@require_POST
def upload_evidence(request: HttpRequest, pk: Any) -> HttpResponse:
    assessment = _assessment(request, pk, perm="compliance.manage")
    form = EvidenceUploadForm(request.POST, request.FILES, assessment=assessment)
    if not form.is_valid():
        return _detail(request, assessment, form=form, status=400)
    code = form.cleaned_data["requirement"]
    requirement = assessment.framework.requirements.filter(code=code).first() if code else None
    upload = form.cleaned_data["file"]
    try:
        services.upload_evidence(
            organization=assessment.organization,
            upload=upload,
            filename=upload.name,
            content_type=upload.content_type or "",
            actor=request.user,
            assessment=assessment,
            requirement=requirement,
            description=form.cleaned_data["description"],
            expires_at=form.expires_at(),
        )
    except BusinessRuleViolation as exc:
        form.add_service_error(exc)
        return _detail(request, assessment, form=form, status=exc.status_code)
    messages.success(request, f"{upload.name} was added to the evidence.")
    return redirect("compliance:assessment", pk=assessment.pk)


@login_required
@require_GET
def assessment_report(request: HttpRequest, pk: Any) -> HttpResponse:
    """The printable report: print it from the browser to get a PDF."""
    assessment = _assessment(request, pk)
    report = build_report(assessment)
    tested = report["counts"]["passed"] + report["counts"]["failed"]
    context = {
        "assessment": assessment,
        "report": report,
        "generated_at": timezone.now(),
        "tested": tested,
        "score_rule": "passed ÷ (passed + failed); not tested and not applicable count in neither",
        "score_width": assessment.score if assessment.score is not None else Decimal(0),
    }
    return render(request, "compliance/report.html", context)


@login_required
@require_GET
def assessment_report_csv(request: HttpRequest, pk: Any) -> HttpResponse:
    assessment = _assessment(request, pk)
    document = reports.report_csv(assessment)
    _observe_export(request, assessment, "compliance.report_csv", records=max(document.count("\n") - 1, 0))
    response = HttpResponse(document, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{assessment.framework.code}-{assessment.pk}.csv"'
    return response


@login_required
@require_GET
def evidence_bundle(request: HttpRequest, pk: Any) -> FileResponse:
    assessment = _assessment(request, pk)
    _observe_export(request, assessment, "compliance.evidence_bundle", records=1)
    return FileResponse(
        reports.evidence_bundle(assessment),
        as_attachment=True,
        filename=f"evidence-{assessment.framework.code}-{assessment.pk}.zip",
        content_type="application/zip",
    )


@login_required
@require_GET
def evidence_download(request: HttpRequest, pk: Any) -> FileResponse:
    organization = _organization(request)
    evidence = get_object_or_404(Evidence.objects.for_organization(organization), pk=pk)
    return FileResponse(
        evidence.file.open("rb"),
        as_attachment=True,
        filename=evidence.filename,
        content_type=evidence.content_type or "application/octet-stream",
    )
