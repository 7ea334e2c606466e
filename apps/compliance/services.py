"""Every write of the compliance app: frameworks, assessments, results, evidence, findings, control-check runs.

Scoring (docs/compliance/scoring.md): a requirement's automated status is *failed* if any of its checks
failed, *passed* if at least one passed and none failed, else *not tested*. A manual result on an
assessment wins over the automated one. A score is passed / (passed + failed) as a percentage with one
decimal; not-tested and not-applicable requirements count in neither; with nothing tested it is empty.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from pathlib import Path
from typing import IO, Any

import yaml
from django.core.files.base import File
from django.db import transaction
from django.utils import timezone

from apps.compliance.checks import CHECKS, CheckOutcome
from apps.compliance.models import (
    Assessment,
    AssessmentStatus,
    AssessmentType,
    ComplianceScore,
    ControlCheckResult,
    Evidence,
    Finding,
    FindingSeverity,
    FindingStatus,
    Framework,
    Requirement,
    RequirementResult,
    ResultStatus,
    as_percent,
)
from apps.core.exceptions import BusinessRuleViolation, Conflict
from apps.security.observers import acting_person, observe_person_after_commit
from apps.security.services import observe_deletion, record_audit_event

logger = logging.getLogger(__name__)

FRAMEWORKS_DIR = Path(__file__).resolve().parent / "frameworks"

# Days to fix a finding, by severity.
FINDING_DUE_DAYS: dict[str, int] = {
    FindingSeverity.CRITICAL: 7,
    FindingSeverity.HIGH: 14,
    FindingSeverity.MEDIUM: 30,
    FindingSeverity.LOW: 90,
}


# -- The framework library ----------------------------------------------------------------------------------


def _validated_outline(document: Any, source: str) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise BusinessRuleViolation(f"{source}: a framework outline is a mapping.", code="invalid_outline")
    for key in ("code", "name", "requirements"):
        if key not in document:
            raise BusinessRuleViolation(f"{source}: `{key}` is missing.", code="invalid_outline")
    codes: set[str] = set()
    for item in document["requirements"]:
        if not isinstance(item, dict) or not item.get("code") or not item.get("title"):
            raise BusinessRuleViolation(
                f"{source}: every requirement needs a code and a title.", code="invalid_outline"
            )
        code = str(item["code"])
        if code in codes:
            raise BusinessRuleViolation(f"{source}: requirement {code} appears twice.", code="invalid_outline")
        codes.add(code)
        unknown = set(item.get("checks") or []) - set(CHECKS)
        if unknown:
            raise BusinessRuleViolation(
                f"{source}: requirement {code} names unknown checks {sorted(unknown)}.", code="invalid_outline"
            )
    return document


def load_framework(*, outline: dict[str, Any], source: str = "outline") -> Framework:
    """Create or update a framework and its requirements from an outline; requirements it no longer lists go."""
    outline = _validated_outline(outline, source)
    with transaction.atomic():
        framework, _ = Framework.objects.update_or_create(
            code=outline["code"],
            defaults={
                "name": outline["name"],
                "version": str(outline.get("version", "")),
                "description": str(outline.get("description", "")).strip(),
            },
        )
        kept = []
        for position, item in enumerate(outline["requirements"]):
            requirement, _ = Requirement.objects.update_or_create(
                framework=framework,
                code=str(item["code"]),
                defaults={
                    "section": str(item.get("section", "")),
                    "title": str(item["title"]),
                    "description": str(item.get("description", "")).strip(),
                    "checks": list(item.get("checks") or []),
                    "position": position,
                },
            )
            kept.append(requirement.pk)
        framework.requirements.exclude(pk__in=kept).delete()
        record_audit_event(
            actor=None,
            action="compliance.framework_loaded",
            target=framework,
            data={"code": framework.code, "requirements": len(kept)},
        )
    return framework


def load_frameworks(*, directory: Path = FRAMEWORKS_DIR) -> list[Framework]:
    """Load every `*.yaml` outline in the directory."""
    loaded = []
    for path in sorted(directory.glob("*.yaml")):
        loaded.append(load_framework(outline=yaml.safe_load(path.read_text()), source=path.name))
    return loaded


# -- Assessments and results ----------------------------------------------------------------------------------


ASSESSMENT_FIELDS = (
    "scope",
    "findings",
    "recommendations",
    "auditor",
    "audit_date",
    "next_audit_date",
    "status",
)


def create_assessment(
    *, organization: Any, framework: Framework, assessment_type: str, actor: Any, **fields: Any
) -> Assessment:
    """Start an assessment; every requirement gets a result row (automated ones filled from the latest checks)."""
    if assessment_type not in AssessmentType.values:
        raise BusinessRuleViolation(
            f"Unknown type {assessment_type!r}.", field="assessment_type", code="invalid_choice"
        )
    unknown = set(fields) - set(ASSESSMENT_FIELDS)
    if unknown:
        raise BusinessRuleViolation(f"Unknown fields {sorted(unknown)}.", code="unknown_field")
    _check_dates(fields)
    with transaction.atomic():
        assessment = Assessment.objects.create(
            organization=organization,
            framework=framework,
            assessment_type=assessment_type,
            created_by=acting_person(actor),
            **fields,
        )
        RequirementResult.objects.bulk_create(
            [RequirementResult(assessment=assessment, requirement=r) for r in framework.requirements.all()]
        )
        _sync_automated_results(assessment, _latest_outcomes(organization))
        record_audit_event(
            actor=actor,
            action="compliance.assessment_created",
            target=assessment,
            data={"framework": framework.code, "type": assessment_type},
        )
    return assessment


def _check_dates(fields: dict[str, Any]) -> None:
    audit_date, next_date = fields.get("audit_date"), fields.get("next_audit_date")
    if audit_date and next_date and next_date <= audit_date:
        raise BusinessRuleViolation(
            "The next audit must come after this one.", field="next_audit_date", code="date_order"
        )


def update_assessment(*, assessment: Assessment, actor: Any, **fields: Any) -> Assessment:
    unknown = set(fields) - set(ASSESSMENT_FIELDS)
    if unknown:
        raise BusinessRuleViolation(f"Cannot change {sorted(unknown)}.", code="read_only")
    if "status" in fields and fields["status"] not in AssessmentStatus.values:
        raise BusinessRuleViolation("Unknown status.", field="status", code="invalid_choice")
    _check_dates(
        {
            "audit_date": fields.get("audit_date", assessment.audit_date),
            "next_audit_date": fields.get("next_audit_date", assessment.next_audit_date),
        }
    )
    with transaction.atomic():
        for name, value in fields.items():
            setattr(assessment, name, value)
        assessment.save(update_fields=[*fields, "updated_at"])
        record_audit_event(
            actor=actor, action="compliance.assessment_updated", target=assessment, data={"fields": sorted(fields)}
        )
    return assessment


def record_requirement_result(
    *, assessment: Assessment, requirement: Requirement, status: str, actor: Any, notes: str = ""
) -> RequirementResult:
    """An assessor's judgement on one requirement. It is manual from then on: checks never overwrite it."""
    if requirement.framework_id != assessment.framework_id:
        raise BusinessRuleViolation("That requirement belongs to another framework.", field="requirement")
    if status not in ResultStatus.values:
        raise BusinessRuleViolation(f"Unknown status {status!r}.", field="status", code="invalid_choice")
    if not assessment.is_open:
        raise Conflict("The assessment is completed; its results are final.", code="assessment_completed")
    with transaction.atomic():
        result, _ = RequirementResult.objects.update_or_create(
            assessment=assessment,
            requirement=requirement,
            defaults={"status": status, "notes": notes, "automated": False, "checked_at": timezone.now()},
        )
        _rescore(assessment)
        record_audit_event(
            actor=actor,
            action="compliance.result_recorded",
            target=assessment,
            data={"requirement": requirement.code, "status": status},
        )
    return result


def score_of_results(statuses: list[str]) -> Any:
    return as_percent(statuses.count(ResultStatus.PASSED), statuses.count(ResultStatus.FAILED))


def _rescore(assessment: Assessment) -> None:
    statuses = list(assessment.results.values_list("status", flat=True))
    assessment.score = score_of_results(statuses)
    assessment.save(update_fields=["score", "updated_at"])


def requirement_status(check_codes: list[str], outcomes: dict[str, str]) -> str:
    """The automated status of a requirement from the statuses of its checks (the documented rule)."""
    statuses = [outcomes.get(code, ResultStatus.NOT_TESTED) for code in check_codes]
    if ResultStatus.FAILED in statuses:
        return ResultStatus.FAILED
    if ResultStatus.PASSED in statuses:
        return ResultStatus.PASSED
    return ResultStatus.NOT_TESTED


def _latest_outcomes(organization: Any) -> dict[str, str]:
    from apps.compliance.selectors import latest_check_results

    return {code: result.status for code, result in latest_check_results(organization).items()}


def _sync_automated_results(assessment: Assessment, outcomes: dict[str, str]) -> None:
    now = timezone.now()
    results = list(assessment.results.select_related("requirement").filter(automated=True))
    changed = []
    for result in results:
        if not result.requirement.checks:
            continue
        status = requirement_status(result.requirement.checks, outcomes)
        if status != result.status:
            result.status = status
            result.checked_at = now
            changed.append(result)
    RequirementResult.objects.bulk_update(changed, ["status", "checked_at"])
    _rescore(assessment)


# -- Evidence ------------------------------------------------------------------------------------------------


def upload_evidence(
    *,
    organization: Any,
    upload: IO[bytes],
    filename: str,
    actor: Any,
    assessment: Assessment | None = None,
    requirement: Requirement | None = None,
    description: str = "",
    content_type: str = "",
    expires_at: dt.datetime | None = None,
) -> Evidence:
    """Store a file of evidence with its SHA-256, so a bundle can prove it was not changed since."""
    if assessment is not None and assessment.organization_id != organization.pk:
        raise BusinessRuleViolation("That assessment belongs to another organization.", field="assessment")
    if requirement is not None and assessment is not None and requirement.framework_id != assessment.framework_id:
        raise BusinessRuleViolation("That requirement is not part of the assessment's framework.", field="requirement")
    if expires_at is not None and expires_at <= timezone.now():
        raise BusinessRuleViolation("The evidence would already be expired.", field="expires_at", code="in_the_past")
    name = Path(filename).name.strip() or "evidence"
    digest = hashlib.sha256()
    size = 0
    upload.seek(0)
    for chunk in iter(lambda: upload.read(1024 * 1024), b""):
        digest.update(chunk)
        size += len(chunk)
    if size == 0:
        raise BusinessRuleViolation("The file is empty.", field="file", code="empty")
    upload.seek(0)
    with transaction.atomic():
        evidence = Evidence(
            organization=organization,
            assessment=assessment,
            requirement=requirement,
            filename=name[:255],
            content_type=content_type[:120],
            size=size,
            sha256=digest.hexdigest(),
            description=description,
            expires_at=expires_at,
            uploaded_by=acting_person(actor),
        )
        evidence.file.save(name, File(upload), save=False)
        evidence.save()
        record_audit_event(
            actor=actor,
            action="compliance.evidence_uploaded",
            target=evidence,
            data={"sha256": evidence.sha256, "size": size, "assessment_id": str(assessment.pk) if assessment else None},
        )
    return evidence


def delete_evidence(*, evidence: Evidence, actor: Any) -> None:
    with transaction.atomic():
        record_audit_event(
            actor=actor, action="compliance.evidence_deleted", target=evidence, data={"sha256": evidence.sha256}
        )
        observe_person_after_commit(
            observe_deletion,
            user=actor,
            organization=evidence.organization,
            resource_type="compliance.evidence",
            records=1,
        )
        stored = evidence.file.name or ""
        storage = evidence.file.storage
        evidence.delete()
        if stored:
            transaction.on_commit(lambda: storage.delete(stored))


# -- Findings -------------------------------------------------------------------------------------------------


def create_finding(
    *,
    organization: Any,
    title: str,
    severity: str,
    actor: Any,
    assessment: Assessment | None = None,
    requirement: Requirement | None = None,
    description: str = "",
    owner: Any = None,
    due_date: dt.date | None = None,
) -> Finding:
    if severity not in FindingSeverity.values:
        raise BusinessRuleViolation(f"Unknown severity {severity!r}.", field="severity", code="invalid_choice")
    if not title.strip():
        raise BusinessRuleViolation("A finding needs a title.", field="title", code="required")
    with transaction.atomic():
        finding = Finding.objects.create(
            organization=organization,
            assessment=assessment,
            requirement=requirement,
            title=title.strip(),
            description=description,
            severity=severity,
            owner=owner,
            due_date=due_date or timezone.localdate() + dt.timedelta(days=FINDING_DUE_DAYS[severity]),
        )
        record_audit_event(actor=actor, action="compliance.finding_opened", target=finding, data={"severity": severity})
    return finding


def update_finding(*, finding: Finding, actor: Any, **fields: Any) -> Finding:
    """Change a finding's owner, due date or status; closing it needs a resolution."""
    allowed = {"owner", "due_date", "status", "resolution", "severity"}
    unknown = set(fields) - allowed
    if unknown:
        raise BusinessRuleViolation(f"Cannot change {sorted(unknown)}.", code="read_only")
    owner = fields.get("owner")
    if owner is not None:
        from apps.accounts.models import Membership

        if not Membership.objects.filter(user=owner, organization_id=finding.organization_id).exists():
            raise BusinessRuleViolation("The owner must be a member of the organization.", field="owner")
    status = fields.get("status")
    if status is not None and status not in FindingStatus.values:
        raise BusinessRuleViolation("Unknown status.", field="status", code="invalid_choice")
    if status in (FindingStatus.RESOLVED, FindingStatus.ACCEPTED) and not (
        fields.get("resolution") or finding.resolution
    ):
        raise BusinessRuleViolation("Say how it was resolved (or why the risk is accepted).", field="resolution")
    with transaction.atomic():
        for name, value in fields.items():
            setattr(finding, name, value)
        if status is not None:
            finding.closed_at = None if status == FindingStatus.OPEN else timezone.now()
            fields["closed_at"] = finding.closed_at
        finding.save(update_fields=[*fields, "updated_at"])
        record_audit_event(
            actor=actor,
            action="compliance.finding_updated",
            target=finding,
            data={"fields": sorted(fields), "status": finding.status},
        )
    return finding


# -- Continuous control checks ----------------------------------------------------------------------------


def _first_owner(organization: Any) -> Any:
    from apps.accounts.models import Membership
    from apps.accounts.roles import Role

    membership = (
        Membership.objects.filter(organization=organization, role=Role.OWNER)
        .select_related("user")
        .order_by("created_at")
        .first()
    )
    return membership.user if membership else None


def _apply_outcome(organization: Any, code: str, outcome: CheckOutcome, now: dt.datetime) -> None:
    check = CHECKS[code]
    ControlCheckResult.objects.create(
        organization=organization,
        check_code=code,
        status=outcome.status,
        reason=outcome.reason,
        measured=outcome.measured,
        ran_at=now,
    )
    open_findings = Finding.objects.filter(organization=organization, check_code=code, status=FindingStatus.OPEN)
    if outcome.status == ResultStatus.FAILED and not open_findings.exists():
        requirement = _requirement_for_check(code, organization)
        finding = Finding.objects.create(
            organization=organization,
            requirement=requirement,
            check_code=code,
            title=f"{check.title}: check failed",
            description=outcome.reason,
            severity=check.severity,
            owner=_first_owner(organization),
            due_date=timezone.localdate() + dt.timedelta(days=FINDING_DUE_DAYS[check.severity]),
        )
        record_audit_event(
            actor=None,
            action="compliance.finding_opened",
            target=finding,
            data={"check": code, "severity": check.severity},
        )
    elif outcome.status == ResultStatus.PASSED:
        for finding in open_findings:
            finding.status = FindingStatus.RESOLVED
            finding.closed_at = now
            finding.resolution = f"Closed automatically: the check passed at {now:%Y-%m-%d %H:%M} UTC. {outcome.reason}"
            finding.save(update_fields=["status", "closed_at", "resolution", "updated_at"])
            record_audit_event(actor=None, action="compliance.finding_closed", target=finding, data={"check": code})


def _requirement_for_check(code: str, organization: Any) -> Requirement | None:
    """The first requirement the check gives evidence for, preferring frameworks the organization assesses."""
    assessed = set(Assessment.objects.filter(organization=organization).values_list("framework_id", flat=True))
    candidates = [
        r
        for r in Requirement.objects.order_by("framework__code", "position").only("pk", "checks", "framework_id")
        if code in r.checks
    ]
    candidates.sort(key=lambda r: r.framework_id not in assessed)  # stable: keeps the outline order otherwise
    return candidates[0] if candidates else None


def run_control_checks(*, organization: Any) -> dict[str, str]:
    """Run every check for one organization: record results, open or close findings, re-score, keep today's score."""
    now = timezone.now()
    outcomes: dict[str, str] = {}
    for code, check in CHECKS.items():
        try:
            outcome = check.run(organization)
        except Exception as exc:
            logger.exception("Control check %s failed to run for %s", code, organization.pk)
            outcome = CheckOutcome(ResultStatus.NOT_TESTED, f"The check could not run: {type(exc).__name__}.")
        with transaction.atomic():
            _apply_outcome(organization, code, outcome, now)
        outcomes[code] = outcome.status
    with transaction.atomic():
        for assessment in Assessment.objects.filter(organization=organization).exclude(
            status=AssessmentStatus.COMPLETED
        ):
            _sync_automated_results(assessment, outcomes)
        _keep_daily_scores(organization, outcomes, now.date())
        record_audit_event(
            actor=None,
            action="compliance.control_checks_ran",
            organization=organization,
            data={"results": outcomes},
        )
    return outcomes


def _keep_daily_scores(organization: Any, outcomes: dict[str, str], day: dt.date) -> None:
    statuses = list(outcomes.values())
    ComplianceScore.objects.update_or_create(
        organization=organization,
        framework=None,
        date=day,
        defaults={
            "score": score_of_results(statuses),
            "passed": statuses.count(ResultStatus.PASSED),
            "failed": statuses.count(ResultStatus.FAILED),
            "not_tested": statuses.count(ResultStatus.NOT_TESTED),
        },
    )
    framework_ids = set(Assessment.objects.filter(organization=organization).values_list("framework_id", flat=True))
    for framework in Framework.objects.filter(pk__in=framework_ids).prefetch_related("requirements"):
        requirement_statuses = [
            requirement_status(r.checks, outcomes) for r in framework.requirements.all() if r.checks
        ]
        ComplianceScore.objects.update_or_create(
            organization=organization,
            framework=framework,
            date=day,
            defaults={
                "score": score_of_results(requirement_statuses),
                "passed": requirement_statuses.count(ResultStatus.PASSED),
                "failed": requirement_statuses.count(ResultStatus.FAILED),
                "not_tested": requirement_statuses.count(ResultStatus.NOT_TESTED),
            },
        )


def run_all_control_checks() -> int:
    """Beat's entry point: every active organization."""
    from apps.accounts.models import Organization

    count = 0
    for organization in Organization.objects.filter(is_active=True).order_by("pk").iterator():
        run_control_checks(organization=organization)
        count += 1
    return count
