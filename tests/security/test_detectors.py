"""Each detection rule fires at its documented threshold and stays quiet just below it."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.core.cache import cache
from django.utils import timezone

from apps.accounts.roles import Role
from apps.security import detectors, services
from apps.security.models import AuditEvent, ResponseKind, SecurityEvent, Severity
from apps.security.services import record_audit_event
from tests.factories.accounts import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db


def _window_start(seconds: int) -> dt.datetime:
    """An instant at the very start of a counting window, so the previous window adds nothing."""
    now = timezone.now().timestamp()
    return dt.datetime.fromtimestamp((int(now // seconds) + 1) * seconds, tz=dt.UTC)


def _types() -> list[str]:
    return list(SecurityEvent.objects.order_by("created_at").values_list("event_type", flat=True))


# -- Brute force and credential stuffing -------------------------------------------------------------------


def test_ten_failed_sign_ins_to_one_account_are_brute_force():
    # given
    user = UserFactory()
    # when
    for i in range(10):
        services.observe_login(username=user.email, ip=f"203.0.113.{i}", success=False, user=user)
    # then
    event = SecurityEvent.objects.get(event_type="brute_force")
    assert (event.severity, event.user, event.data["failures"]) == (Severity.HIGH, user, 10)


def test_nine_failed_sign_ins_are_not_brute_force():
    user = UserFactory()

    for i in range(9):
        services.observe_login(username=user.email, ip=f"203.0.113.{i}", success=False, user=user)

    assert _types() == []


def test_failures_older_than_the_window_do_not_count():
    user = UserFactory()
    long_ago = timezone.now() - dt.timedelta(hours=1)

    for i in range(9):
        services.observe_login(
            username=user.email, ip="203.0.113.1", success=False, at=long_ago + dt.timedelta(seconds=i)
        )
    services.observe_login(username=user.email, ip="203.0.113.1", success=False)

    assert _types() == []


def test_failures_against_five_accounts_from_one_address_are_credential_stuffing():
    for n in range(5):
        services.observe_login(username=f"victim{n}@example.com", ip="198.51.100.9", success=False)

    event = SecurityEvent.objects.get(event_type="credential_stuffing")
    assert (event.source_ip, event.organization, event.data["accounts"]) == ("198.51.100.9", None, 5)


def test_four_accounts_from_one_address_or_five_from_five_addresses_are_not_stuffing():
    for n in range(4):
        services.observe_login(username=f"victim{n}@example.com", ip="198.51.100.9", success=False)
    for n in range(5):
        services.observe_login(username=f"other{n}@example.com", ip=f"198.51.100.{20 + n}", success=False)

    assert _types() == []


def test_a_repeat_detection_adds_to_the_open_event_instead_of_opening_another():
    user = UserFactory()

    for _ in range(12):
        services.observe_login(username=user.email, ip="203.0.113.1", success=False, user=user)

    event = SecurityEvent.objects.get()
    assert event.occurrences == 3


# -- New places ----------------------------------------------------------------------------------------


def test_a_sign_in_from_a_new_address_range_is_noticed_without_geoip():
    # given a person who always signed in from one range
    user = UserFactory()
    services.observe_login(username=user.email, ip="10.20.1.1", success=True, user=user)
    # when
    services.observe_login(username=user.email, ip="192.0.2.77", success=True, user=user)
    # then
    event = SecurityEvent.objects.get()
    assert (event.event_type, event.severity, event.data["ip_range"]) == ("new_ip_range", Severity.LOW, "192.0.0.0/16")


def test_the_usual_range_and_a_first_ever_sign_in_are_not_noticed():
    user = UserFactory()

    services.observe_login(username=user.email, ip="10.20.1.1", success=True, user=user)
    services.observe_login(username=user.email, ip="10.20.9.9", success=True, user=user)

    assert _types() == []


@pytest.fixture
def geoip_database(tmp_path, settings):
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(ip_version=6, database_type="GeoLite2-City", ipv4_compatible=True)
    places = {
        "203.0.113.0/24": ("DE", 52.52, 13.40),  # Berlin
        "203.0.114.0/24": ("DE", 48.14, 11.58),  # Munich
        "198.51.100.0/24": ("AU", -33.87, 151.21),  # Sydney
    }
    for network, (country, lat, lon) in places.items():
        writer.insert_network(
            IPSet([network]), {"country": {"iso_code": country}, "location": {"latitude": lat, "longitude": lon}}
        )
    path = tmp_path / "city.mmdb"
    writer.to_db_file(str(path))
    settings.SECURITY_GEOIP_CITY_DATABASE = str(path)
    return path


def test_with_geoip_a_new_country_and_an_impossible_journey_are_detected(geoip_database):
    # given a sign-in in Berlin
    user = UserFactory()
    start = timezone.now() - dt.timedelta(hours=2)
    services.observe_login(username=user.email, ip="203.0.113.5", success=True, user=user, at=start)
    # when the same person signs in from Sydney an hour later
    services.observe_login(
        username=user.email, ip="198.51.100.5", success=True, user=user, at=start + dt.timedelta(hours=1)
    )
    # then
    events = {e.event_type: e for e in SecurityEvent.objects.all()}
    assert set(events) == {"new_country", "impossible_travel"}
    assert events["new_country"].data["country"] == "AU"
    assert events["impossible_travel"].data["km"] > 15000
    assert events["impossible_travel"].severity == Severity.HIGH


def test_with_geoip_a_plausible_journey_in_the_same_country_is_quiet(geoip_database):
    user = UserFactory()
    start = timezone.now() - dt.timedelta(hours=8)

    services.observe_login(username=user.email, ip="203.0.113.5", success=True, user=user, at=start)
    services.observe_login(
        username=user.email, ip="203.0.114.5", success=True, user=user, at=start + dt.timedelta(hours=5)
    )

    assert _types() == []


def test_with_an_asn_database_a_new_network_operator_is_noticed(tmp_path, settings):
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(ip_version=6, database_type="GeoLite2-ASN", ipv4_compatible=True)
    writer.insert_network(IPSet(["203.0.113.0/24"]), {"autonomous_system_number": 64500})
    writer.insert_network(IPSet(["203.0.114.0/24"]), {"autonomous_system_number": 64501})
    path = tmp_path / "asn.mmdb"
    writer.to_db_file(str(path))
    settings.SECURITY_GEOIP_ASN_DATABASE = str(path)
    user = UserFactory()

    services.observe_login(username=user.email, ip="203.0.113.5", success=True, user=user)
    services.observe_login(username=user.email, ip="203.0.113.6", success=True, user=user)
    assert _types() == []
    services.observe_login(username=user.email, ip="203.0.114.5", success=True, user=user)

    event = SecurityEvent.objects.get()
    assert (event.event_type, event.data["asn"]) == ("new_asn", 64501)


# -- API clients ----------------------------------------------------------------------------------------


def test_a_client_that_keeps_calling_after_sixty_429s_in_a_minute_is_hammering():
    organization = OrganizationFactory()
    at = _window_start(60)

    for i in range(60):
        services.observe_api_request(
            client_id="client-1",
            ip="203.0.113.8",
            status=429,
            organization=organization,
            at=at + dt.timedelta(seconds=i % 50),
        )

    event = SecurityEvent.objects.get()
    assert (event.event_type, event.resource_id, event.organization) == ("api_hammering", "client-1", organization)


def test_fifty_nine_429s_or_sixty_successful_calls_are_not_hammering():
    at = _window_start(60)

    for _ in range(59):
        services.observe_api_request(client_id="client-1", ip="203.0.113.8", status=429, at=at)
    for _ in range(60):
        services.observe_api_request(client_id="client-2", ip="203.0.113.8", status=200, at=at)

    assert _types() == []


def _steady_usage(client_id: str, start: dt.datetime, minutes: int, per_minute: int) -> None:
    for minute in range(minutes):
        for call in range(per_minute):
            services.observe_api_request(
                client_id=client_id, ip="203.0.113.8", status=200, at=start + dt.timedelta(minutes=minute, seconds=call)
            )


def test_a_minute_far_above_the_clients_own_baseline_is_an_anomaly():
    # given forty minutes of about ten calls a minute
    start = _window_start(60) - dt.timedelta(hours=2)
    _steady_usage("client-1", start, minutes=40, per_minute=10)
    # when one minute has two hundred calls, and the next minute begins
    burst = start + dt.timedelta(minutes=40)
    for call in range(200):
        services.observe_api_request(
            client_id="client-1", ip="203.0.113.8", status=200, at=burst + dt.timedelta(milliseconds=call * 100)
        )
    services.observe_api_request(client_id="client-1", ip="203.0.113.8", status=200, at=burst + dt.timedelta(minutes=1))
    # then
    event = SecurityEvent.objects.get()
    assert event.event_type == "api_usage_anomaly"
    assert event.data["calls"] == 200
    assert event.data["z"] >= 6


def test_usage_at_the_clients_usual_rate_is_not_an_anomaly():
    start = _window_start(60) - dt.timedelta(hours=2)

    _steady_usage("client-1", start, minutes=45, per_minute=10)

    assert _types() == []


@pytest.fixture
def tally(settings, monkeypatch):
    """This process's API call tally, adding its counts only when a test flushes it."""
    settings.SECURITY_API_TALLY_FLUSH_SECONDS = 3600
    tally = services.ApiCallTally()
    monkeypatch.setattr(services, "api_call_tally", tally)
    yield tally
    tally._pending.clear()
    tally.close()


def _minute_count(client_id: str, at: dt.datetime) -> int:
    return int(cache.get(f"security:api-minute:{detectors._short(client_id)}:{int(at.timestamp() // 60)}") or 0)


def test_calls_are_counted_in_the_process_and_added_in_one_step(tally):
    # given
    client_id, at = f"client-{uuid.uuid4().hex[:8]}", _window_start(60)
    # when
    for second in range(5):
        moment = at + dt.timedelta(seconds=second)
        services.observe_api_request(client_id=client_id, ip="203.0.113.8", status=200, at=moment)
    waiting, before = tally.pending, _minute_count(client_id, at)
    tally.flush()
    # then
    assert (waiting, before) == (5, 0)
    assert _minute_count(client_id, at) == 5
    assert tally.pending == 0


def test_a_burst_counted_in_the_process_is_judged_when_the_next_minute_is_added(tally, settings):
    # given forty minutes of about ten calls a minute, counted call by call
    client_id = f"client-{uuid.uuid4().hex[:8]}"
    start = _window_start(60) - dt.timedelta(hours=2)
    settings.SECURITY_API_TALLY_FLUSH_SECONDS = 0
    _steady_usage(client_id, start, minutes=40, per_minute=10)
    settings.SECURITY_API_TALLY_FLUSH_SECONDS = 3600
    # when a minute of two hundred calls and the first call of the next minute wait in one batch
    burst = start + dt.timedelta(minutes=40)
    for call in range(200):
        services.observe_api_request(
            client_id=client_id, ip="203.0.113.8", status=200, at=burst + dt.timedelta(milliseconds=call * 100)
        )
    services.observe_api_request(client_id=client_id, ip="203.0.113.9", status=200, at=burst + dt.timedelta(minutes=1))
    quiet_until_flushed = _types()
    tally.flush()
    # then the burst minute was added before the next one judged it
    assert quiet_until_flushed == []
    event = SecurityEvent.objects.get()
    assert (event.event_type, event.data["calls"], event.source_ip) == ("api_usage_anomaly", 200, "203.0.113.9")


def test_a_count_the_cache_refuses_is_logged_and_dropped_not_counted_twice(tally, cache_down, caplog):
    # given a call counted in the process
    client_id, at = f"client-{uuid.uuid4().hex[:8]}", _window_start(60)
    services.observe_api_request(client_id=client_id, ip="203.0.113.8", status=200, at=at)
    # when the tally adds it while the shared cache is down
    with cache_down():
        tally.flush()
    # then the count is logged and dropped: the cache, back again, never gets it
    assert f"Could not count or judge 1 calls of API client {client_id}" in caplog.text
    tally.flush()
    assert tally.pending == 0
    assert _minute_count(client_id, at) == 0


def test_a_token_used_from_two_distant_ranges_within_minutes_is_flagged():
    user = UserFactory()
    at = timezone.now()

    services.observe_token_use(token_id="tok-1", ip="203.0.113.5", user=user, at=at)
    services.observe_token_use(token_id="tok-1", ip="198.51.100.5", user=user, at=at + dt.timedelta(minutes=2))

    event = SecurityEvent.objects.get()
    assert (event.event_type, event.resource_id, event.severity) == ("token_distant_ips", "tok-1", Severity.MEDIUM)


def test_a_token_from_the_same_range_or_after_the_window_is_not_flagged():
    at = timezone.now()

    services.observe_token_use(token_id="tok-1", ip="203.0.113.5", at=at)
    services.observe_token_use(token_id="tok-1", ip="203.0.7.9", at=at + dt.timedelta(minutes=1))
    services.observe_token_use(token_id="tok-2", ip="203.0.113.5", at=at)
    services.observe_token_use(token_id="tok-2", ip="198.51.100.5", at=at + dt.timedelta(minutes=11))

    assert _types() == []


@pytest.fixture
def local_token_window(settings):
    settings.SECURITY_TOKEN_SEEN_LOCAL_SECONDS = 1.0
    detectors._told.clear()
    yield
    detectors._told.clear()


def test_a_busy_token_from_one_address_is_reported_to_the_shared_record_once_a_second(local_token_window):
    # given the key was reported from its usual address
    at = timezone.now()
    services.observe_token_use(token_id="tok-9", ip="203.0.113.5", at=at)
    # when another process records a second address, and this one sees the usual address again at once
    cache.set("security:token-seen:" + detectors._short("tok-9"), {"ip": "198.51.100.5", "at": at.timestamp()})
    services.observe_token_use(token_id="tok-9", ip="203.0.113.5", at=at + dt.timedelta(milliseconds=300))
    assert _types() == []
    # then the comparison happens at this process's next report, a second later
    services.observe_token_use(token_id="tok-9", ip="203.0.113.5", at=at + dt.timedelta(milliseconds=1300))
    assert _types() == ["token_distant_ips"]


def test_a_new_address_is_always_reported_at_once(local_token_window):
    at = timezone.now()

    services.observe_token_use(token_id="tok-8", ip="203.0.113.5", at=at)
    services.observe_token_use(token_id="tok-8", ip="198.51.100.5", at=at + dt.timedelta(milliseconds=10))

    assert _types() == ["token_distant_ips"]


def test_with_geoip_a_token_in_berlin_then_sydney_is_high_severity(geoip_database):
    at = timezone.now()

    services.observe_token_use(token_id="tok-1", ip="203.0.113.5", kind="api_key", at=at)
    services.observe_token_use(token_id="tok-1", ip="198.51.100.5", kind="api_key", at=at + dt.timedelta(minutes=3))

    event = SecurityEvent.objects.get()
    assert event.severity == Severity.HIGH
    assert event.data["km"] > 15000


# -- Privilege, data movement, webhooks, the audit log ---------------------------------------------------


def test_a_sensitive_action_soon_after_a_role_was_raised_is_privilege_escalation():
    # given
    membership = MembershipFactory(role=Role.VIEWER)
    services.observe_role_change(
        user=membership.user, organization=membership.organization, old_role=Role.VIEWER, new_role=Role.ADMIN
    )
    # when
    services.observe_export(
        user=membership.user, organization=membership.organization, resource_type="records", records=5
    )
    # then
    event = SecurityEvent.objects.get()
    assert event.event_type == "privilege_escalation"
    assert (event.data["from_role"], event.data["to_role"], event.data["action"]) == (
        Role.VIEWER,
        Role.ADMIN,
        "export:records",
    )


def test_a_sensitive_action_without_a_raise_or_after_a_demotion_is_not_escalation():
    membership = MembershipFactory(role=Role.ADMIN)
    other = MembershipFactory(role=Role.ADMIN)

    services.observe_role_change(
        user=membership.user, organization=membership.organization, old_role=Role.ADMIN, new_role=Role.VIEWER
    )
    services.observe_sensitive_action(user=membership.user, organization=membership.organization, action="ip_rule")
    services.observe_sensitive_action(user=other.user, organization=other.organization, action="ip_rule")

    assert _types() == []


def test_an_action_long_after_the_raise_is_not_escalation():
    membership = MembershipFactory(role=Role.VIEWER)
    raised = timezone.now() - dt.timedelta(hours=3)

    services.observe_role_change(
        user=membership.user, organization=membership.organization, old_role=Role.VIEWER, new_role=Role.OWNER, at=raised
    )
    services.observe_sensitive_action(
        user=membership.user, organization=membership.organization, action="export", at=raised + dt.timedelta(hours=2)
    )

    assert _types() == []


def test_ten_thousand_records_exported_in_ten_minutes_is_a_mass_export():
    membership = MembershipFactory()
    at = _window_start(600)

    services.observe_export(
        user=membership.user, organization=membership.organization, resource_type="contacts", records=6000, at=at
    )
    services.observe_export(
        user=membership.user,
        organization=membership.organization,
        resource_type="contacts",
        records=4000,
        at=at + dt.timedelta(minutes=3),
    )

    event = SecurityEvent.objects.get()
    assert (event.event_type, event.data["records"]) == ("mass_export", 10000)


def test_exports_just_under_the_limit_are_not_a_mass_export():
    membership = MembershipFactory()

    services.observe_export(
        user=membership.user,
        organization=membership.organization,
        resource_type="contacts",
        records=9999,
        at=_window_start(600),
    )

    assert _types() == []


def test_five_hundred_deletions_lock_the_account_and_end_its_sessions():
    membership = MembershipFactory()

    services.observe_deletion(
        user=membership.user,
        organization=membership.organization,
        resource_type="records",
        records=500,
        at=_window_start(600),
    )

    event = SecurityEvent.objects.get()
    assert event.event_type == "mass_deletion"
    assert set(event.responses.values_list("kind", flat=True)) == {
        ResponseKind.NOTIFY,
        ResponseKind.LOCK_ACCOUNT,
        ResponseKind.REVOKE_SESSIONS,
    }


def test_four_hundred_ninety_nine_deletions_are_not_mass_deletion():
    membership = MembershipFactory()

    services.observe_deletion(
        user=membership.user,
        organization=membership.organization,
        resource_type="records",
        records=499,
        at=_window_start(600),
    )

    assert _types() == []


def test_twenty_bad_webhook_signatures_from_one_source_in_five_minutes_are_flagged():
    organization = OrganizationFactory()
    at = _window_start(300)

    for i in range(20):
        services.observe_webhook_signature_failure(
            source="jira", organization=organization, ip="203.0.113.4", at=at + dt.timedelta(seconds=i)
        )

    event = SecurityEvent.objects.get()
    assert (event.event_type, event.organization, event.data["failures"]) == (
        "webhook_signature_failures",
        organization,
        20,
    )


def test_nineteen_bad_signatures_or_twenty_spread_over_sources_are_not_flagged():
    at = _window_start(300)

    for _ in range(19):
        services.observe_webhook_signature_failure(source="jira", at=at)
    for i in range(20):
        services.observe_webhook_signature_failure(source=f"source-{i}", at=at)

    assert _types() == []


def test_a_failed_audit_verification_raises_a_critical_event():
    # given an edit straight to the table (the suite's schema has no trigger)
    organization = OrganizationFactory()
    events = [record_audit_event(actor=None, action="test.x", organization=organization) for _ in range(3)]
    AuditEvent.objects.filter(pk=events[1].pk).update(action="test.forged")
    # when
    services.verify_audit_chains()
    # then
    event = SecurityEvent.objects.get()
    assert (event.event_type, event.severity, event.data["seq"]) == ("audit_chain_failure", Severity.CRITICAL, 2)


def test_an_intact_audit_log_raises_nothing():
    record_audit_event(actor=None, action="test.x", organization=OrganizationFactory())

    assert services.verify_audit_chains().ok
    assert _types() == []
