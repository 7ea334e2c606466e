"""Automated control checks. Each looks at one organization and answers passed, failed or not tested.

Checks whose data lives in apps that do not exist yet read it through a *provider*: a function the owning
app registers with `register_control_data_provider(name, func)` in its AppConfig.ready(). Until one is
registered the check answers not_tested and says which app provides it. Provider contracts:

- `sso_policy(organization) -> {"sso_required": bool}`                                   (identity)
- `api_keys(organization) -> [{"id": str, "created_at": datetime, "rotated_at": datetime | None}]`  (gateway)
- `restore_drills(organization) -> {"finished_at": datetime, "ok": bool, "rpo_seconds": float,
  "rto_seconds": float} | None`                                                             (regions)
- `connector_residency(organization) -> [{"connector_id": str, "location": str, "allowed": bool}]`
                                                                                              (connectors/regions)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils import timezone

from apps.compliance.models import FindingSeverity, ResultStatus


@dataclass(frozen=True)
class CheckOutcome:
    status: str
    reason: str
    measured: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ControlCheck:
    code: str
    title: str
    description: str
    severity: str
    run: Callable[[Any], CheckOutcome]


_PROVIDERS: dict[str, Callable[[Any], Any]] = {}
PROVIDER_OWNERS = {
    "sso_policy": "identity (SSO organization policy)",
    "api_keys": "gateway (API keys)",
    "restore_drills": "regions (backups and restore drills)",
    "connector_residency": "connectors and regions (connector locations and residency rules)",
}


def register_control_data_provider(name: str, provider: Callable[[Any], Any]) -> None:
    if name not in PROVIDER_OWNERS:
        raise ValueError(f"No control data provider named {name!r}.")
    _PROVIDERS[name] = provider


def unregister_control_data_provider(name: str) -> None:
    _PROVIDERS.pop(name, None)


def _not_available(name: str) -> CheckOutcome:
    return CheckOutcome(
        ResultStatus.NOT_TESTED, f"No data source yet: the {PROVIDER_OWNERS[name]} app provides it ({name})."
    )


def _limit(name: str, default: float) -> float:
    limits: dict[str, float] = getattr(settings, "COMPLIANCE_CHECK_LIMITS", {}) or {}
    return float(limits.get(name, default))


# -- Checks on what exists today -----------------------------------------------------------------------------


def _members(organization: Any) -> Any:
    from apps.accounts.models import Membership

    return Membership.objects.filter(organization=organization, user__is_active=True)


def check_mfa_coverage(organization: Any) -> CheckOutcome:
    from allauth.mfa.models import Authenticator

    user_ids = set(_members(organization).values_list("user_id", flat=True))
    if not user_ids:
        return CheckOutcome(ResultStatus.NOT_TESTED, "The organization has no active members.")
    enrolled = set(
        Authenticator.objects.filter(
            user_id__in=user_ids, type__in=[Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN]
        ).values_list("user_id", flat=True)
    )
    coverage = len(enrolled) / len(user_ids)
    required = _limit("mfa_min_coverage", 1.0)
    measured = {"members": len(user_ids), "with_mfa": len(enrolled), "coverage": round(coverage, 4)}
    if coverage >= required:
        return CheckOutcome(ResultStatus.PASSED, f"{len(enrolled)} of {len(user_ids)} members use MFA.", measured)
    return CheckOutcome(
        ResultStatus.FAILED,
        f"{len(user_ids) - len(enrolled)} of {len(user_ids)} members have no authenticator app or security key "
        f"(required coverage {required:.0%}).",
        measured,
    )


def check_dormant_accounts(organization: Any) -> CheckOutcome:
    days = int(_limit("dormant_days", 90))
    cutoff = timezone.now() - dt.timedelta(days=days)
    members = _members(organization).select_related("user")
    dormant = [
        m
        for m in members
        if (m.user.last_login or m.created_at) < cutoff  # never signed in counts from when they joined
    ]
    measured = {"members": len(members), "dormant": len(dormant), "days": days}
    if not dormant:
        return CheckOutcome(ResultStatus.PASSED, f"Every member signed in within {days} days.", measured)
    return CheckOutcome(
        ResultStatus.FAILED,
        f"{len(dormant)} members have not signed in for {days} days; remove them or confirm they still need access.",
        {**measured, "membership_ids": [str(m.pk) for m in dormant[:50]]},
    )


def check_audit_chain_verified(organization: Any) -> CheckOutcome:
    from apps.security.models import AuditVerification

    latest = AuditVerification.objects.order_by("-finished_at").first()
    window = timezone.now() - dt.timedelta(hours=24)
    if latest is None or latest.finished_at < window:
        return CheckOutcome(ResultStatus.FAILED, "The audit log was not verified in the last 24 hours.")
    measured = {"verified_at": latest.finished_at.isoformat(), "events": latest.events_checked}
    if not latest.ok:
        return CheckOutcome(ResultStatus.FAILED, f"The last verification found a break: {latest.reason}", measured)
    return CheckOutcome(ResultStatus.PASSED, f"Verified intact at {latest.finished_at:%Y-%m-%d %H:%M} UTC.", measured)


def check_encryption_key_rotation(organization: Any) -> CheckOutcome:
    from apps.security.models import PLATFORM_CHAIN, AuditEvent

    days = int(_limit("key_rotation_max_days", 365))
    last = (
        AuditEvent.objects.filter(chain=PLATFORM_CHAIN, action="core.encryption_keys_rotated")
        .order_by("-seq")
        .values_list("occurred_at", flat=True)
        .first()
    )
    if last is None:
        return CheckOutcome(
            ResultStatus.FAILED, "The encryption keys were never rotated (manage.py rotate_encryption_keys)."
        )
    age = (timezone.now() - last).days
    measured = {"rotated_at": last.isoformat(), "age_days": age, "max_days": days}
    if age > days:
        return CheckOutcome(ResultStatus.FAILED, f"Keys were last rotated {age} days ago (limit {days}).", measured)
    return CheckOutcome(ResultStatus.PASSED, f"Keys rotated {age} days ago.", measured)


def check_open_critical_events(organization: Any) -> CheckOutcome:
    from apps.security.models import SecurityEvent, Severity
    from apps.security.models.events import OPEN_STATUSES

    count = SecurityEvent.objects.filter(
        organization=organization, severity=Severity.CRITICAL, status__in=OPEN_STATUSES
    ).count()
    if count:
        return CheckOutcome(
            ResultStatus.FAILED, f"{count} critical security events are still open.", {"open_critical": count}
        )
    return CheckOutcome(ResultStatus.PASSED, "No critical security event is open.", {"open_critical": 0})


# -- Checks that read other apps' data through providers -----------------------------------------------------


def check_sso_enforced(organization: Any) -> CheckOutcome:
    provider = _PROVIDERS.get("sso_policy")
    if provider is None:
        return _not_available("sso_policy")
    policy = provider(organization) or {}
    if policy.get("sso_required"):
        return CheckOutcome(ResultStatus.PASSED, "Members must sign in through SSO.", dict(policy))
    return CheckOutcome(ResultStatus.FAILED, "Password sign-in is still allowed for members.", dict(policy))


def check_api_key_age(organization: Any) -> CheckOutcome:
    provider = _PROVIDERS.get("api_keys")
    if provider is None:
        return _not_available("api_keys")
    days = int(_limit("api_key_max_age_days", 90))
    now = timezone.now()
    keys = list(provider(organization) or [])
    stale = [k for k in keys if (now - (k.get("rotated_at") or k["created_at"])).days > days]
    measured = {"keys": len(keys), "stale": len(stale), "max_days": days, "stale_ids": [k["id"] for k in stale[:50]]}
    if stale:
        return CheckOutcome(ResultStatus.FAILED, f"{len(stale)} API keys are older than {days} days.", measured)
    return CheckOutcome(ResultStatus.PASSED, f"All {len(keys)} API keys are younger than {days} days.", measured)


def check_restore_drill(organization: Any) -> CheckOutcome:
    provider = _PROVIDERS.get("restore_drills")
    if provider is None:
        return _not_available("restore_drills")
    drill = provider(organization)
    max_days = int(_limit("restore_drill_max_days", 30))
    rpo_target = _limit("rpo_target_seconds", 3600)
    rto_target = _limit("rto_target_seconds", 4 * 3600)
    if not drill:
        return CheckOutcome(ResultStatus.FAILED, "No restore drill has been recorded.")
    age = (timezone.now() - drill["finished_at"]).days
    measured = {
        "age_days": age,
        "ok": bool(drill.get("ok")),
        "rpo_seconds": drill.get("rpo_seconds"),
        "rto_seconds": drill.get("rto_seconds"),
        "rpo_target_seconds": rpo_target,
        "rto_target_seconds": rto_target,
    }
    problems = []
    if age > max_days:
        problems.append(f"the last drill was {age} days ago (limit {max_days})")
    if not drill.get("ok"):
        problems.append("the last drill did not verify")
    if drill.get("rpo_seconds") is None or float(drill["rpo_seconds"]) > rpo_target:
        problems.append(f"RPO {drill.get('rpo_seconds')} s exceeds {rpo_target:.0f} s")
    if drill.get("rto_seconds") is None or float(drill["rto_seconds"]) > rto_target:
        problems.append(f"RTO {drill.get('rto_seconds')} s exceeds {rto_target:.0f} s")
    if problems:
        return CheckOutcome(ResultStatus.FAILED, "; ".join(problems).capitalize() + ".", measured)
    return CheckOutcome(ResultStatus.PASSED, f"Restore drill {age} days ago met RPO and RTO.", measured)


def check_connector_residency(organization: Any) -> CheckOutcome:
    provider = _PROVIDERS.get("connector_residency")
    if provider is None:
        return _not_available("connector_residency")
    connectors = list(provider(organization) or [])
    outside = [c for c in connectors if not c.get("allowed")]
    measured = {"connectors": len(connectors), "outside": [c["connector_id"] for c in outside[:50]]}
    if outside:
        return CheckOutcome(
            ResultStatus.FAILED, f"{len(outside)} connectors send data where residency rules forbid.", measured
        )
    return CheckOutcome(ResultStatus.PASSED, f"All {len(connectors)} connectors respect residency rules.", measured)


CHECKS: dict[str, ControlCheck] = {
    check.code: check
    for check in (
        ControlCheck(
            "mfa_coverage",
            "MFA coverage",
            "Every active member has an authenticator app or security key.",
            FindingSeverity.HIGH,
            check_mfa_coverage,
        ),
        ControlCheck(
            "sso_enforced",
            "SSO enforced",
            "The organization requires sign-in through its identity provider.",
            FindingSeverity.MEDIUM,
            check_sso_enforced,
        ),
        ControlCheck(
            "dormant_accounts",
            "Dormant accounts",
            "No member has gone 90 days without signing in.",
            FindingSeverity.MEDIUM,
            check_dormant_accounts,
        ),
        ControlCheck(
            "api_key_age",
            "API key age",
            "No API key is older than 90 days without rotation.",
            FindingSeverity.MEDIUM,
            check_api_key_age,
        ),
        ControlCheck(
            "audit_chain_verified",
            "Audit log verified",
            "The tamper-evident audit log was verified intact within 24 hours.",
            FindingSeverity.CRITICAL,
            check_audit_chain_verified,
        ),
        ControlCheck(
            "restore_drill",
            "Restore drill",
            "A restore drill within 30 days verified the backup and met RPO and RTO.",
            FindingSeverity.HIGH,
            check_restore_drill,
        ),
        ControlCheck(
            "encryption_key_rotation",
            "Encryption key rotation",
            "The keys encrypting secrets at rest were rotated within a year.",
            FindingSeverity.MEDIUM,
            check_encryption_key_rotation,
        ),
        ControlCheck(
            "connector_residency",
            "Connector residency",
            "Every connector sends data only where the organization's residency rules allow.",
            FindingSeverity.HIGH,
            check_connector_residency,
        ),
        ControlCheck(
            "open_critical_events",
            "Open critical events",
            "No critical security event is left open.",
            FindingSeverity.CRITICAL,
            check_open_critical_events,
        ),
    )
}
