"""Every write of the marketplace, one module per area. Callers import the functions from here."""

from apps.marketplace.services.analytics import record_analytics_event
from apps.marketplace.services.catalog import refresh_catalog_rankings, refresh_extension_listing
from apps.marketplace.services.installations import (
    activate_installation,
    approve_update,
    configure_installation,
    disable_installation,
    enable_installation,
    install_channel_version,
    install_extension,
    offer_update,
    uninstall_installation,
)
from apps.marketplace.services.pipeline import (
    certify_version,
    publish_version,
    rescan_published_versions,
    run_scan_step,
    run_test_step,
    run_validate_step,
    start_pipeline,
)
from apps.marketplace.services.publishing import (
    create_publisher,
    decide_quarantine,
    set_deprecated,
    set_rule_mode,
    set_version_channel,
    update_publisher,
    upload_version,
    verify_publisher,
    yank_version,
)
from apps.marketplace.services.reviews import (
    edit_review,
    hide_review,
    reply_to_review,
    report_review,
    resolve_report,
    restore_review,
    submit_review,
)
from apps.marketplace.services.support import close_problem_report, report_problem
from apps.marketplace.services.webhooks import attempt_delivery, enqueue_webhook, redeliver_webhook

__all__ = [
    "activate_installation",
    "approve_update",
    "attempt_delivery",
    "certify_version",
    "close_problem_report",
    "configure_installation",
    "create_publisher",
    "decide_quarantine",
    "disable_installation",
    "edit_review",
    "enable_installation",
    "enqueue_webhook",
    "hide_review",
    "install_channel_version",
    "install_extension",
    "offer_update",
    "publish_version",
    "record_analytics_event",
    "redeliver_webhook",
    "refresh_catalog_rankings",
    "refresh_extension_listing",
    "reply_to_review",
    "report_problem",
    "report_review",
    "rescan_published_versions",
    "resolve_report",
    "restore_review",
    "run_scan_step",
    "run_test_step",
    "run_validate_step",
    "set_deprecated",
    "set_rule_mode",
    "set_version_channel",
    "start_pipeline",
    "submit_review",
    "uninstall_installation",
    "update_publisher",
    "upload_version",
    "verify_publisher",
    "yank_version",
]
