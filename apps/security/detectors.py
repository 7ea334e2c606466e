"""Detection rules. Each takes what was observed and returns the detections it makes (often none).

The rules, their thresholds and their responses are documented in docs/security/detectors.md; the numbers
live in `Thresholds` and can be tuned per deployment with `SECURITY_DETECTOR_THRESHOLDS`. Rules read
their history from `LoginObservation` rows, small `DetectorState` rows and sliding-window counters in
the shared cache (Redis in production), so every worker sees the same counts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass, field, fields, replace
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from apps.core.cache import add_to_counter, swap
from apps.security.client_ip import ip_range
from apps.security.geoip import Location, distance_km, geoip_configured, locate
from apps.security.models import DetectorState, LoginObservation, ResponseKind, Severity


@dataclass(frozen=True)
class Thresholds:
    brute_force_failures: int = 10
    brute_force_window_seconds: int = 15 * 60
    stuffing_accounts: int = 5
    stuffing_window_seconds: int = 10 * 60
    login_history_days: int = 90
    impossible_travel_kmh: float = 900.0
    impossible_travel_min_km: float = 500.0
    hammering_429s: int = 60
    hammering_window_seconds: int = 60
    token_window_seconds: int = 10 * 60
    token_distance_km: float = 500.0
    escalation_window_seconds: int = 60 * 60
    mass_export_records: int = 10_000
    mass_deletion_records: int = 500
    mass_window_seconds: int = 10 * 60
    webhook_failures: int = 20
    webhook_window_seconds: int = 5 * 60
    anomaly_alpha: float = 0.1
    anomaly_z: float = 6.0
    anomaly_min_requests: int = 50
    anomaly_warmup_minutes: int = 30
    dedup_window_seconds: int = 60 * 60


def thresholds() -> Thresholds:
    overrides: dict[str, Any] = getattr(settings, "SECURITY_DETECTOR_THRESHOLDS", {}) or {}
    known = {f.name for f in fields(Thresholds)}
    unknown = set(overrides) - known
    if unknown:
        raise ValueError(f"Unknown detector thresholds: {', '.join(sorted(unknown))}")
    return replace(Thresholds(), **overrides)


@dataclass
class Detection:
    """What a rule found; `services.raise_security_event` turns it into an event and its responses."""

    event_type: str
    severity: str
    title: str
    dedup_key: str
    detection_method: str
    organization: Any = None
    user: Any = None
    source_ip: str | None = None
    resource_type: str = ""
    resource_id: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    playbook: tuple[str, ...] = (ResponseKind.NOTIFY,)


def account_key(username: str) -> str:
    return hashlib.sha256(username.strip().lower().encode()).hexdigest()


def _short(subject: str) -> str:
    return hashlib.sha256(subject.encode()).hexdigest()[:32]


def windowed_add(name: str, subject: str, amount: float, *, at: dt.datetime, window: int) -> float:
    """Add to a sliding-window counter and return its current total.

    Two fixed windows in the cache approximate a sliding one: the current window's count plus the
    previous window's count weighted by how much of it still overlaps.
    """
    ts = at.timestamp()
    bucket = int(ts // window)
    current = add_to_counter(f"security:win:{name}:{_short(subject)}:{bucket}", int(amount), timeout=window * 2 + 60)
    previous = cache.get(f"security:win:{name}:{_short(subject)}:{bucket - 1}") or 0
    overlap = 1 - (ts % window) / window
    return float(current) + float(previous) * overlap


# -- Sign-in ---------------------------------------------------------------------------------------------


def login_detections(observation: LoginObservation, *, organization: Any) -> list[Detection]:
    t = thresholds()
    found: list[Detection] = []
    at = observation.at
    if not observation.success:
        since = at - dt.timedelta(seconds=t.brute_force_window_seconds)
        failures = LoginObservation.objects.filter(
            account_key=observation.account_key, success=False, at__gt=since, at__lte=at
        ).count()
        if failures >= t.brute_force_failures:
            found.append(
                Detection(
                    event_type="brute_force",
                    severity=Severity.HIGH,
                    title=f"{failures} failed sign-ins to one account in {t.brute_force_window_seconds // 60} minutes",
                    dedup_key=f"brute_force:{observation.account_key}",
                    detection_method="inline:login_failures_per_account",
                    organization=organization,
                    user=observation.user,
                    source_ip=observation.ip,
                    data={"failures": failures, "window_seconds": t.brute_force_window_seconds},
                    playbook=(ResponseKind.NOTIFY, ResponseKind.LOCK_ACCOUNT),
                )
            )
        since = at - dt.timedelta(seconds=t.stuffing_window_seconds)
        accounts = (
            LoginObservation.objects.filter(ip=observation.ip, success=False, at__gt=since, at__lte=at)
            .values("account_key")
            .distinct()
            .count()
        )
        if accounts >= t.stuffing_accounts:
            found.append(
                Detection(
                    event_type="credential_stuffing",
                    severity=Severity.HIGH,
                    title=f"Failed sign-ins to {accounts} accounts from one address",
                    dedup_key=f"credential_stuffing:{observation.ip}",
                    detection_method="inline:distinct_accounts_per_address",
                    source_ip=observation.ip,
                    data={"accounts": accounts, "window_seconds": t.stuffing_window_seconds},
                    playbook=(ResponseKind.NOTIFY, ResponseKind.BLOCK_IP),
                )
            )
        return found
    if observation.user is None:
        return found
    history = LoginObservation.objects.filter(
        user=observation.user,
        success=True,
        at__gte=at - dt.timedelta(days=t.login_history_days),
        at__lt=at,
    ).exclude(pk=observation.pk)
    previous = history.order_by("-at").first()
    if previous is None:
        return found  # a first sign-in has nothing to differ from
    common = {"organization": organization, "user": observation.user, "source_ip": observation.ip}
    if observation.country or observation.asn is not None:
        if observation.country and not history.filter(country=observation.country).exists():
            found.append(
                Detection(
                    event_type="new_country",
                    severity=Severity.MEDIUM,
                    title=f"Sign-in from a country not seen in {t.login_history_days} days ({observation.country})",
                    dedup_key=f"new_country:{observation.user.pk}:{observation.country}",
                    detection_method="inline:geoip_country_history",
                    data={"country": observation.country, "previous_country": previous.country},
                    **common,
                )
            )
        elif observation.asn is not None and not history.filter(asn=observation.asn).exists():
            found.append(
                Detection(
                    event_type="new_asn",
                    severity=Severity.LOW,
                    title=f"Sign-in from a network operator not seen before (AS{observation.asn})",
                    dedup_key=f"new_asn:{observation.user.pk}:{observation.asn}",
                    detection_method="inline:geoip_asn_history",
                    data={"asn": observation.asn},
                    **common,
                )
            )
        here = Location(latitude=observation.latitude, longitude=observation.longitude)
        there = Location(latitude=previous.latitude, longitude=previous.longitude)
        if here.has_coordinates and there.has_coordinates:
            km = distance_km(there, here)
            hours = max((at - previous.at).total_seconds() / 3600, 1 / 3600)
            speed = km / hours
            if km >= t.impossible_travel_min_km and speed > t.impossible_travel_kmh:
                found.append(
                    Detection(
                        event_type="impossible_travel",
                        severity=Severity.HIGH,
                        title=f"Sign-ins {km:.0f} km apart within {hours * 60:.0f} minutes",
                        dedup_key=f"impossible_travel:{observation.user.pk}",
                        detection_method="inline:geoip_travel_speed",
                        data={"km": round(km), "minutes": round(hours * 60), "kmh": round(speed)},
                        playbook=(ResponseKind.NOTIFY, ResponseKind.REQUIRE_REAUTH),
                        **common,
                    )
                )
    elif not history.filter(ip_range=observation.ip_range).exists():
        found.append(
            Detection(
                event_type="new_ip_range",
                severity=Severity.LOW,
                title=f"Sign-in from an address range not seen in {t.login_history_days} days",
                dedup_key=f"new_ip_range:{observation.user.pk}:{observation.ip_range}",
                detection_method="inline:address_range_history",
                data={"ip_range": observation.ip_range, "previous_range": previous.ip_range},
                **common,
            )
        )
    return found


def locate_login(ip: str) -> dict[str, Any]:
    location = locate(ip)
    if location is None:
        return {}
    return {
        "country": location.country,
        "asn": location.asn,
        "latitude": location.latitude,
        "longitude": location.longitude,
    }


# -- API clients -----------------------------------------------------------------------------------------


def hammering_detection(*, client_id: str, organization: Any, ip: str, at: dt.datetime) -> Detection | None:
    t = thresholds()
    refused = windowed_add("api429", client_id, 1, at=at, window=t.hammering_window_seconds)
    if refused < t.hammering_429s:
        return None
    return Detection(
        event_type="api_hammering",
        severity=Severity.HIGH,
        title=f"API client kept calling after {int(refused)} rate-limit refusals in a minute",
        dedup_key=f"api_hammering:{client_id}",
        detection_method="inline:429_after_429",
        organization=organization,
        source_ip=ip,
        resource_type="gateway.apiclient",
        resource_id=client_id,
        data={"refusals": int(refused), "window_seconds": t.hammering_window_seconds},
        playbook=(ResponseKind.NOTIFY, ResponseKind.BLOCK_IP, ResponseKind.REVOKE_API_KEYS),
    )


def _fold(state: dict[str, Any], value: float, alpha: float) -> None:
    """One EWMA step of the mean and variance (West's incremental form)."""
    mean = float(state.get("mean", 0.0))
    var = float(state.get("var", 0.0))
    diff = value - mean
    increment = alpha * diff
    state["mean"] = mean + increment
    state["var"] = (1 - alpha) * (var + diff * increment)
    state["n"] = int(state.get("n", 0)) + 1


def usage_anomaly_detection(
    *, client_id: str, organization: Any, ip: str, at: dt.datetime, calls: int = 1
) -> Detection | None:
    """Count `calls` calls in their minute; when they are the first of a new minute, judge the minute(s) that
    just ended.

    The model per client is an exponentially weighted mean and variance of calls per minute (minutes
    without calls count as zero). A finished minute is anomalous when its count is at least
    `anomaly_min_requests` and lies `anomaly_z` standard deviations above the mean, once the model has
    seen `anomaly_warmup_minutes` minutes.
    """
    t = thresholds()
    minute = int(at.timestamp() // 60)
    # Only the minute's first calls (those that started its counter) judge the minutes before it.
    if add_to_counter(f"security:api-minute:{_short(client_id)}:{minute}", calls, timeout=3 * 3600) != calls:
        return None
    detection: Detection | None = None
    # Bookkeeping of the rule's own model, not a business write: kept small and row-locked per client.
    with transaction.atomic():
        row, _ = DetectorState.objects.select_for_update().get_or_create(
            detector="api_usage_ewma", subject=client_id, defaults={"state": {}}
        )
        state = dict(row.state)
        last = state.get("last_minute")
        if last is None:
            state["last_minute"] = minute - 1
        else:
            for past in range(int(last) + 1, minute):
                count = float(cache.get(f"security:api-minute:{_short(client_id)}:{past}") or 0)
                if minute - past > 180:
                    count = 0.0  # counters expired: an idle stretch
                std = math.sqrt(max(float(state.get("var", 0.0)), 1.0))
                z = (count - float(state.get("mean", 0.0))) / std
                if (
                    detection is None
                    and int(state.get("n", 0)) >= t.anomaly_warmup_minutes
                    and count >= t.anomaly_min_requests
                    and z >= t.anomaly_z
                ):
                    detection = Detection(
                        event_type="api_usage_anomaly",
                        severity=Severity.MEDIUM,
                        title=f"API client made {int(count)} calls in a minute, {z:.1f} deviations above its norm",
                        dedup_key=f"api_usage_anomaly:{client_id}",
                        detection_method="inline:ewma_zscore_per_client",
                        organization=organization,
                        source_ip=ip,
                        resource_type="gateway.apiclient",
                        resource_id=client_id,
                        data={"calls": int(count), "mean": round(float(state["mean"]), 2), "z": round(z, 2)},
                    )
                _fold(state, count, t.anomaly_alpha)
            state["last_minute"] = minute - 1
        row.state = state
        row.save(update_fields=["state", "updated_at"])
    return detection


# (token, address) -> when this process last told the shared cache about it.
_told: dict[tuple[str, str], float] = {}


def _seen_here_just_now(token_id: str, ip: str, at: dt.datetime) -> bool:
    """Whether this process reported the same token from the same address less than
    `SECURITY_TOKEN_SEEN_LOCAL_SECONDS` ago, so the shared record need not be touched again.

    A busy API client presents its key many times a second from one address; re-reading and re-writing
    the shared record each time would cost every call a round trip. The rule still sees every change of
    address: another process's different address is compared with ours at our next report, at most that
    many seconds later.
    """
    window = settings.SECURITY_TOKEN_SEEN_LOCAL_SECONDS
    if window <= 0:
        return False
    moment = at.timestamp()
    told = _told.get((token_id, ip))
    if told is not None and 0 <= moment - told < window:
        return True
    if len(_told) > 10_000:
        _told.clear()
    _told[(token_id, ip)] = moment
    return False


def token_detection(
    *, token_id: str, ip: str, at: dt.datetime, organization: Any, user: Any, kind: str
) -> Detection | None:
    """The same token presented from two far-apart places within the window."""
    if _seen_here_just_now(token_id, ip, at):
        return None
    t = thresholds()
    key = f"security:token-seen:{_short(token_id)}"
    here = locate(ip) if geoip_configured() else None
    previous = swap(
        key,
        {
            "ip": ip,
            "at": at.timestamp(),
            "lat": getattr(here, "latitude", None),
            "lon": getattr(here, "longitude", None),
        },
        timeout=t.token_window_seconds,
    )
    if not previous or previous["ip"] == ip or at.timestamp() - previous["at"] > t.token_window_seconds:
        return None
    data: dict[str, Any] = {"first_ip": previous["ip"], "seconds_apart": round(at.timestamp() - previous["at"])}
    if here is not None and here.has_coordinates and previous.get("lat") is not None:
        km = distance_km(Location(latitude=previous["lat"], longitude=previous["lon"]), here)
        if km < t.token_distance_km:
            return None
        severity, method = Severity.HIGH, "inline:token_geo_distance"
        data["km"] = round(km)
    else:
        if ip_range(ip) == ip_range(previous["ip"]):
            return None
        severity, method = Severity.MEDIUM, "inline:token_address_ranges"
    revoke = ResponseKind.REVOKE_API_KEYS if kind == "api_key" else ResponseKind.REVOKE_TOKENS
    return Detection(
        event_type="token_distant_ips",
        severity=severity,
        title="One credential used from two distant places at once",
        dedup_key=f"token_distant_ips:{token_id}",
        detection_method=method,
        organization=organization,
        user=user,
        source_ip=ip,
        resource_type=kind,
        resource_id=token_id,
        data=data,
        playbook=(ResponseKind.NOTIFY, ResponseKind.REQUIRE_REAUTH, revoke),
    )


# -- Privilege, data movement, integrity ----------------------------------------------------------------


def _elevation_key(organization: Any, user: Any) -> str:
    return f"security:elevated:{getattr(organization, 'pk', organization)}:{getattr(user, 'pk', user)}"


def remember_elevation(*, user: Any, organization: Any, old_role: str, new_role: str, at: dt.datetime) -> None:
    t = thresholds()
    cache.set(
        _elevation_key(organization, user),
        {"from": old_role, "to": new_role, "at": at.timestamp()},
        timeout=t.escalation_window_seconds,
    )


def escalation_detection(*, user: Any, organization: Any, action: str, at: dt.datetime) -> Detection | None:
    t = thresholds()
    elevated = cache.get(_elevation_key(organization, user))
    if not elevated or at.timestamp() - elevated["at"] > t.escalation_window_seconds:
        return None
    return Detection(
        event_type="privilege_escalation",
        severity=Severity.HIGH,
        title=f"Sensitive action ({action}) soon after a role was raised to {elevated['to']}",
        dedup_key=f"privilege_escalation:{getattr(organization, 'pk', organization)}:{user.pk}",
        detection_method="inline:role_raised_then_sensitive_action",
        organization=organization,
        user=user,
        data={
            "action": action,
            "from_role": elevated["from"],
            "to_role": elevated["to"],
            "seconds_after": round(at.timestamp() - elevated["at"]),
        },
        playbook=(ResponseKind.NOTIFY, ResponseKind.REQUIRE_REAUTH),
    )


def mass_detection(
    *, kind: str, user: Any, organization: Any, resource_type: str, records: int, at: dt.datetime
) -> Detection | None:
    t = thresholds()
    limit = t.mass_export_records if kind == "export" else t.mass_deletion_records
    subject = f"{getattr(organization, 'pk', organization)}:{user.pk}"
    total = windowed_add(f"mass_{kind}", subject, records, at=at, window=t.mass_window_seconds)
    if total < limit:
        return None
    playbook: tuple[str, ...] = (ResponseKind.NOTIFY, ResponseKind.REQUIRE_REAUTH)
    if kind == "deletion":
        playbook = (ResponseKind.NOTIFY, ResponseKind.LOCK_ACCOUNT, ResponseKind.REVOKE_SESSIONS)
    return Detection(
        event_type=f"mass_{kind}",
        severity=Severity.HIGH,
        title=f"{int(total)} records {'exported' if kind == 'export' else 'deleted'} in "
        f"{t.mass_window_seconds // 60} minutes by one person",
        dedup_key=f"mass_{kind}:{subject}",
        detection_method=f"inline:records_{kind}ed_per_user",
        organization=organization,
        user=user,
        resource_type=resource_type,
        data={"records": int(total), "window_seconds": t.mass_window_seconds, "resource_type": resource_type},
        playbook=playbook,
    )


def webhook_failure_detection(*, source: str, organization: Any, ip: str | None, at: dt.datetime) -> Detection | None:
    t = thresholds()
    subject = f"{getattr(organization, 'pk', organization)}:{source}"
    failures = windowed_add("webhook_sig", subject, 1, at=at, window=t.webhook_window_seconds)
    if failures < t.webhook_failures:
        return None
    return Detection(
        event_type="webhook_signature_failures",
        severity=Severity.MEDIUM,
        title=f"{int(failures)} webhook deliveries with bad signatures from {source}",
        dedup_key=f"webhook_signature_failures:{subject}",
        detection_method="inline:bad_signatures_per_source",
        organization=organization,
        source_ip=ip,
        resource_type="webhook_source",
        resource_id=source[:64],
        data={"failures": int(failures), "window_seconds": t.webhook_window_seconds},
    )


def audit_failure_detection(*, reason: str, broken_chain: str, broken_seq: int | None) -> Detection:
    return Detection(
        event_type="audit_chain_failure",
        severity=Severity.CRITICAL,
        title="The audit log failed verification",
        dedup_key=f"audit_chain_failure:{broken_chain}:{broken_seq}",
        detection_method="scheduled:audit_chain_verification",
        resource_type="security.auditevent",
        resource_id=broken_chain[:64],
        data={"chain": broken_chain, "seq": broken_seq, "reason": reason[:500]},
    )
