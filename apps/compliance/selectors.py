"""Reads of compliance data shared by the pages, the API, the reports and the services."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from apps.compliance.checks import CHECKS
from apps.compliance.models import (
    Assessment,
    ComplianceScore,
    ControlCheckResult,
    Evidence,
    Finding,
    FindingStatus,
    RequirementResult,
)


def latest_check_results(organization: Any) -> dict[str, ControlCheckResult]:
    """The newest result of each check for the organization (one query)."""
    rows = ControlCheckResult.objects.filter(organization=organization, check_code__in=list(CHECKS)).order_by(
        "check_code", "-ran_at"
    )
    latest: dict[str, ControlCheckResult] = {}
    # Few checks, bounded history per day: reading the last day is enough and stays small.
    for row in rows.filter(ran_at__gte=timezone.now() - dt.timedelta(days=2)):
        latest.setdefault(row.check_code, row)
    return latest


def score_trend(organization: Any, *, days: int = 30, framework: Any = None) -> list[ComplianceScore]:
    since = timezone.localdate() - dt.timedelta(days=days - 1)
    scores = ComplianceScore.objects.filter(organization=organization, date__gte=since)
    scores = scores.filter(framework=framework) if framework is not None else scores.filter(framework__isnull=True)
    return list(scores.order_by("date"))


def open_findings(organization: Any) -> QuerySet[Finding]:
    return (
        Finding.objects.for_organization(organization)
        .filter(status=FindingStatus.OPEN)
        .select_related("owner", "requirement")
        .order_by("due_date")
    )


@dataclass
class ReportSection:
    name: str
    results: list[RequirementResult]


def assessment_report(assessment: Assessment) -> dict[str, Any]:
    """Everything the report page, the CSV and the bundle show about one assessment."""
    results = list(
        RequirementResult.objects.filter(assessment=assessment)
        .select_related("requirement")
        .order_by("requirement__position")
    )
    sections: list[ReportSection] = []
    for result in results:
        name = result.requirement.section or "Requirements"
        if not sections or sections[-1].name != name:
            sections.append(ReportSection(name=name, results=[]))
        sections[-1].results.append(result)
    requirement_ids = {r.requirement_id for r in results}
    check_codes = {code for r in results for code in r.requirement.checks}
    findings = list(
        Finding.objects.for_organization(assessment.organization)
        .filter(status=FindingStatus.OPEN)
        .select_related("owner", "requirement")
        .order_by("due_date")
    )
    findings = [
        f
        for f in findings
        if f.assessment_id == assessment.pk or f.requirement_id in requirement_ids or f.check_code in check_codes
    ]
    evidence = list(
        Evidence.objects.filter(assessment=assessment)
        .select_related("requirement", "uploaded_by")
        .order_by("-collected_at")
    )
    counts = {
        status: sum(1 for r in results if r.status == status)
        for status in ("passed", "failed", "not_tested", "not_applicable")
    }
    return {"sections": sections, "results": results, "findings": findings, "evidence": evidence, "counts": counts}
