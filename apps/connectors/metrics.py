"""Prometheus metrics of outbound calls, exported at /metrics with the rest of the process's metrics.

Labels stay low-cardinality (provider, method, status class): per-connector figures come from health
samples in the database, not from label sets that grow with every customer.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUESTS = Counter(
    "nofx_connector_requests_total",
    "Outbound calls to external systems, by provider, method and status (`error` when no response came).",
    ["provider", "method", "status"],
)
LATENCY = Histogram(
    "nofx_connector_request_duration_seconds",
    "Time from sending an outbound call to its response headers, one observation per attempt.",
    ["provider"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
RETRIES = Counter(
    "nofx_connector_retries_total",
    "Outbound calls attempted again, by provider and reason (rate_limited, server_error, network).",
    ["provider", "reason"],
)
BUDGET_WAIT = Histogram(
    "nofx_connector_rate_budget_wait_seconds",
    "Time a call waited for its connection's shared rate budget before it was sent.",
    ["provider"],
    buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
TOKEN_REFRESHES = Counter(
    "nofx_connector_token_refreshes_total",
    "OAuth2 access tokens refreshed, by provider and outcome.",
    ["provider", "outcome"],
)


def status_label(status: int | None) -> str:
    return "error" if status is None else str(status)
