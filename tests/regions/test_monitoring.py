"""Per-region health: sampled, replicated, shown to operators and exported to Prometheus."""

from __future__ import annotations

import logging
import time

import pytest
from django.core.cache import cache
from django.utils import timezone

from apps.regions import traffic
from apps.regions.health import sample_health
from apps.regions.models import DirectoryEntry, DirectoryKind, DrillKind, DrillRecord, OutboxDelivery, RegionStatus
from apps.regions.services import publish_directory_entry
from tests.factories.accounts import UserFactory
from tests.factories.regions import BackupRecordFactory, DirectoryEntryFactory, RegionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_traffic(monkeypatch, settings):
    """A recorder of this test's own that adds its figures only when it is flushed, as in production."""
    settings.REGIONS_TRAFFIC_FLUSH_SECONDS = 3600
    recorder = traffic.TrafficRecorder()
    monkeypatch.setattr(traffic, "recorder", recorder)
    yield recorder
    recorder.close()


@pytest.fixture
def regions():
    return [
        RegionFactory(code="us-east"),
        RegionFactory(code="eu-west", status=RegionStatus.DEGRADED),
        RegionFactory(code="ap-southeast", status=RegionStatus.STANDBY),
    ]


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_a_health_sample_measures_the_region_and_is_published_to_its_peers(regions):
    # given some traffic
    for status, seconds in [(200, 0.01)] * 18 + [(500, 0.3), (502, 2.0)]:
        traffic.recorder.record(status=status, seconds=seconds)
    # when
    sample = sample_health()
    # then
    assert sample.region_code == "us-east"
    assert sample.database_ok
    assert sample.database_latency_ms is not None
    assert sample.broker_ok
    assert (sample.requests, sample.error_rate) == (20, 0.1)
    assert sample.latency_p95_ms == 500.0
    entry = DirectoryEntry.objects.get(kind=DirectoryKind.REGION_HEALTH, key="us-east")
    assert entry.data["requests"] == 20
    assert OutboxDelivery.objects.filter(message__kind="region_health").count() == 2


def test_traffic_figures_come_from_the_last_minutes_only():
    now = time.time()
    traffic.recorder.record(status=200, seconds=0.01)
    traffic.recorder.flush()

    assert traffic.summarise(now=now + 10 * 60).requests == 0
    assert traffic.summarise(now=now).requests == 1


def _counted(name: str, minute: int) -> int:
    """The shared count `name` of this minute and the next (a test may cross a minute's end)."""
    return sum(int(cache.get(f"regions:traffic:{m}:{name}") or 0) for m in (minute, minute + 1))


def test_a_request_s_figures_reach_the_shared_counters_only_when_the_recorder_writes(fresh_traffic):
    # given two requests recorded in this process, one of them a server error
    minute = int(time.time() // 60)
    before = (_counted("requests", minute), _counted("errors", minute))
    fresh_traffic.record(status=200, seconds=0.01)
    fresh_traffic.record(status=503, seconds=0.2)
    # then nothing was sent to the cache on the requests' path
    assert (_counted("requests", minute), _counted("errors", minute)) == before
    # when the recorder's thread writes
    fresh_traffic.flush()
    # then the sums are added in one go
    assert (_counted("requests", minute), _counted("errors", minute)) == (before[0] + 2, before[1] + 1)


def test_figures_the_cache_refuses_are_dropped_and_never_fail_a_request(fresh_traffic, cache_down, caplog):
    # given a request's figures
    fresh_traffic.record(status=200, seconds=0.01)
    # when the recorder writes while the shared cache is down
    with cache_down(), caplog.at_level(logging.WARNING, logger="apps.regions.traffic"):
        assert fresh_traffic.flush() == 1
    # then the figures are dropped with a warning, not kept to be counted twice later
    assert "Could not add this process's traffic figures" in caplog.text
    assert fresh_traffic.pending == 0


def test_without_traffic_there_is_no_error_rate_or_latency():
    figures = traffic.summarise()

    assert (figures.requests, figures.error_rate, figures.latency_p95_seconds) == (0, None, None)


def test_requests_through_the_middleware_are_counted(client, regions):
    for _ in range(3):
        client.get("/healthz")

    assert traffic.summarise().requests == 3


def test_the_operator_page_shows_every_region_with_its_health(staff_client, regions, django_assert_max_num_queries):
    # given this region's sample, a peer's replicated one, a backlog for the peer and a backup
    sample_health()
    DirectoryEntryFactory(
        kind=DirectoryKind.REGION_HEALTH,
        key="eu-west",
        slug="eu-west",
        data={
            "sampled_at": timezone.now().isoformat(),
            "database_ok": False,
            "database_latency_ms": None,
            "replica_lag_seconds": 12.5,
            "replica_lag_bytes": 4096,
            "broker_ok": True,
            "queue_depth": 7,
            "requests": 40,
            "error_rate": 0.25,
            "latency_p95_ms": 250.0,
            "outbox_pending": 0,
        },
    )
    publish_directory_entry(kind="publisher", key="p1", region_code="us-east")
    # when
    with django_assert_max_num_queries(12):
        response = staff_client.get("/admin/regions/region/health/")
    # then
    assert response.status_code == 200
    page = response.content.decode()
    for expected in (
        "us-east",
        "eu-west",
        "ap-southeast",
        "(this region)",
        "DOWN",
        "12.5 s",
        "25%",
        "no health sample",
    ):
        assert expected in page


def test_the_operator_page_is_for_staff_only(client, user, regions):
    client.force_login(user)

    response = client.get("/admin/regions/region/health/")

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_prometheus_metrics_cover_every_region_and_recovery(client, regions):
    # given
    sample_health()
    publish_directory_entry(kind="publisher", key="p1", region_code="us-east")
    BackupRecordFactory()
    DrillRecord.objects.create(
        region_code="us-east",
        kind=DrillKind.RESTORE,
        started_at=timezone.now(),
        finished_at=timezone.now(),
        ok=True,
        rpo_seconds=42.0,
        rto_seconds=3.5,
    )
    # when
    text = client.get("/metrics").content.decode()
    # then
    for line in (
        'nofx_region_status{region="eu-west",status="degraded"} 1.0',
        'nofx_region_status{region="eu-west",status="active"} 0.0',
        'nofx_region_database_up{region="us-east"} 1.0',
        'nofx_region_broker_up{region="us-east"} 1.0',
        'nofx_region_outbox_pending{region="eu-west"} 2.0',
        'nofx_region_restore_drill_rpo_seconds{region="us-east"} 42.0',
        'nofx_region_restore_drill_rto_seconds{region="us-east"} 3.5',
        'nofx_region_restore_drill_last_ok{region="us-east"} 1.0',
    ):
        assert line in text
    assert 'nofx_region_backup_last_success_timestamp_seconds{region="us-east"}' in text
    assert 'nofx_region_replica_lag_seconds{region="us-east"}' not in text  # no standby: no figure, not a zero


def test_the_health_command_prints_the_sample(regions):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("sample_region_health", stdout=out)

    assert "database_ok: True" in out.getvalue()


def test_the_alert_rules_only_use_metrics_this_app_exports():
    import re
    from pathlib import Path

    import yaml
    from django.conf import settings

    from apps.regions.monitoring import RECOVERY_GAUGES, REGION_GAUGES

    rules = yaml.safe_load((Path(settings.BASE_DIR) / "docker" / "prometheus" / "alerts.yml").read_text())
    exported = {f"nofx_region_{name}" for name, _ in (*REGION_GAUGES, *RECOVERY_GAUGES)}
    exported |= {"nofx_region_status", "nofx_residency_refusals_total"}
    used = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            used |= set(re.findall(r"\bnofx_[a-z0-9_]+", rule["expr"]))
            assert rule["annotations"]["runbook"].startswith("docs/runbooks/")
            assert (Path(settings.BASE_DIR) / rule["annotations"]["runbook"]).exists()
    assert used
    assert used <= exported, f"alerts use metrics nobody exports: {sorted(used - exported)}"
