"""Usage: every machine call recorded, rolled up per client per day, shown to the organization."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.utils import timezone

from apps.gateway.models import UsageDay, UsageRecord
from apps.gateway.tasks import purge_gateway_records_task, roll_up_usage_task
from apps.gateway.usage import roll_up_usage
from tests.factories.gateway import ApiClientFactory, UsageDayFactory, UsageRecordFactory


def test_every_machine_call_is_recorded(machine, gateway_client, key_token):
    # when
    machine(key_token).get("/api/v1/teams/")
    machine(key_token).get("/api/v1/teams/00000000-0000-0000-0000-000000000000/")
    # then
    records = list(UsageRecord.objects.filter(client=gateway_client).order_by("id"))
    assert [(r.operation, r.status_code) for r in records] == [("api:team-list", 200), ("api:team-detail", 404)]
    assert all(r.latency_us > 0 and r.bytes_out > 0 and r.key_id for r in records)
    assert records[0].credential == "api_key"


def test_a_day_is_rolled_up_per_client(organization):
    # given
    day = datetime(2026, 3, 4, tzinfo=UTC)
    first, second = ApiClientFactory(organization=organization), ApiClientFactory(organization=organization)
    for status, latency in ((200, 1000), (404, 3000), (429, 500), (503, 9000)):
        UsageRecordFactory(client=first, occurred_at=day + timedelta(hours=1), status_code=status, latency_us=latency)
    UsageRecordFactory(client=second, occurred_at=day + timedelta(hours=2))
    UsageRecordFactory(client=first, occurred_at=day - timedelta(seconds=1))  # the day before
    # when
    count = roll_up_usage(day=day.date())
    # then
    assert count == 2
    rolled = UsageDay.objects.get(client=first, day=day.date())
    assert (rolled.calls, rolled.client_errors, rolled.throttled, rolled.server_errors) == (4, 1, 1, 1)
    assert (rolled.latency_us_total, rolled.latency_us_max, rolled.average_latency_ms) == (13500, 9000, 3.38)
    assert UsageDay.objects.get(client=second, day=day.date()).calls == 1


def test_rolling_up_twice_gives_the_same_numbers(organization):
    client = ApiClientFactory(organization=organization)
    UsageRecordFactory(client=client)

    roll_up_usage_task()
    roll_up_usage_task()

    assert UsageDay.objects.get(client=client).calls == 1


def test_old_raw_records_are_purged_and_their_days_stay(organization, settings):
    settings.GATEWAY_USAGE_RETENTION_DAYS = 35
    client = ApiClientFactory(organization=organization)
    old = UsageRecordFactory(client=client, occurred_at=timezone.now() - timedelta(days=40))
    recent = UsageRecordFactory(client=client)
    roll_up_usage(day=old.occurred_at.date())

    purge_gateway_records_task()

    assert list(UsageRecord.objects.values_list("id", flat=True)) == [recent.pk]
    assert UsageDay.objects.filter(client=client, day=old.occurred_at.date()).exists()


def test_the_organization_lists_its_usage_records(
    owner_client, organization, other_organization, django_assert_max_num_queries
):
    # given
    client = ApiClientFactory(organization=organization)
    for _ in range(5):
        UsageRecordFactory(client=client)
    UsageRecordFactory(client=ApiClientFactory(organization=other_organization))
    # when
    with django_assert_max_num_queries(6):
        response = owner_client.get(f"/api/v1/usage-records/?client={client.pk}")
    # then
    assert response.status_code == 200
    assert len(response.json()["results"]) == 5


def test_the_organization_lists_its_daily_summaries(owner_client, organization, django_assert_max_num_queries):
    client = ApiClientFactory(organization=organization)
    for days_ago in range(7):
        UsageDayFactory(client=client, day=timezone.now().date() - timedelta(days=days_ago), calls=days_ago)

    with django_assert_max_num_queries(6):
        response = owner_client.get("/api/v1/usage-days/?day_from=" + str(timezone.now().date() - timedelta(days=2)))

    assert response.status_code == 200
    assert [row["calls"] for row in response.json()["results"]] == [0, 1, 2]


def test_a_viewer_sees_usage_but_a_stranger_does_not(api_client, viewer, user, organization):
    UsageDayFactory(client=ApiClientFactory(organization=organization))

    api_client.force_authenticate(viewer)
    seen = api_client.get("/api/v1/usage-days/").json()["results"]
    api_client.force_authenticate(user)
    unseen = api_client.get("/api/v1/usage-days/").json()["results"]

    assert (len(seen), len(unseen)) == (1, 0)


def test_the_usage_page_shows_clients_and_days(client, owner, organization, django_assert_max_num_queries):
    # given
    for n in range(3):
        api_client_row = ApiClientFactory(organization=organization, name=f"ERP {n}")
        UsageDayFactory(client=api_client_row, calls=100 + n, throttled=n)
    client.force_login(owner)
    # when
    with django_assert_max_num_queries(12):
        response = client.get("/account/api/")
    # then
    assert response.status_code == 200
    page = response.content.decode()
    assert "ERP 0" in page
    assert "ERP 2" in page
    assert "303" in page  # total calls
    assert 'aria-current="page">API clients and usage' in page


def test_someone_without_an_organization_is_sent_to_their_account(client, user):
    client.force_login(user)

    response = client.get("/account/api/")

    assert response.status_code == 302
    assert response["Location"] == "/account/"


def test_the_usage_page_needs_a_sign_in(client, db):
    response = client.get("/account/api/")

    assert response.status_code == 302
