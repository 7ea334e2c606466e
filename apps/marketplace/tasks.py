"""Celery tasks of the marketplace: thin, idempotent, keyed by ids. The pipeline is a chain of its steps."""

from __future__ import annotations

from celery import chain, shared_task
from celery.canvas import Signature

from apps.marketplace import services
from apps.marketplace.services.webhooks import due_delivery_ids


@shared_task(name="apps.marketplace.tasks.validate_version_task")
def validate_version_task(version_id: str) -> bool:
    return services.run_validate_step(version_id=version_id)


@shared_task(name="apps.marketplace.tasks.scan_version_task")
def scan_version_task(version_id: str) -> bool:
    return services.run_scan_step(version_id=version_id)


@shared_task(name="apps.marketplace.tasks.test_version_task")
def test_version_task(version_id: str) -> bool:
    return services.run_test_step(version_id=version_id)


@shared_task(name="apps.marketplace.tasks.certify_version_task")
def certify_version_task(version_id: str) -> bool:
    return services.certify_version(version_id=version_id)


@shared_task(name="apps.marketplace.tasks.publish_version_task")
def publish_version_task(version_id: str) -> bool:
    return services.publish_version(version_id=version_id)


def pipeline_chain(version_id: str) -> Signature:
    """validate -> scan -> test -> certify -> publish. Each step does nothing unless the version is where
    that step expects it, so a step that stopped the version ends the chain in effect."""
    return chain(
        validate_version_task.si(version_id),
        scan_version_task.si(version_id),
        test_version_task.si(version_id),
        certify_version_task.si(version_id),
        publish_version_task.si(version_id),
    )


@shared_task(name="apps.marketplace.tasks.rescan_published_versions_task")
def rescan_published_versions_task() -> int:
    return services.rescan_published_versions()


@shared_task(name="apps.marketplace.tasks.activate_installation_task")
def activate_installation_task(installation_id: str) -> None:
    services.activate_installation(installation_id=installation_id)


@shared_task(name="apps.marketplace.tasks.deliver_webhook_task")
def deliver_webhook_task(delivery_id: str) -> None:
    services.attempt_delivery(delivery_id=delivery_id)


@shared_task(name="apps.marketplace.tasks.deliver_due_webhooks_task")
def deliver_due_webhooks_task() -> int:
    ids = due_delivery_ids()
    for delivery_id in ids:
        deliver_webhook_task.delay(delivery_id)
    return len(ids)


@shared_task(name="apps.marketplace.tasks.refresh_catalog_rankings_task")
def refresh_catalog_rankings_task() -> int:
    return services.refresh_catalog_rankings()


@shared_task(name="apps.marketplace.tasks.send_problem_report_email_task", acks_late=True)
def send_problem_report_email_task(report_id: str) -> int:
    from apps.marketplace.services.support import notify_publisher_of_problem

    return notify_publisher_of_problem(report_id=report_id)
