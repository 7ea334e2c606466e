"""What the PostgreSQL benchmarks share: a throwaway database next to DATABASE_URL's, and p50/p95 of samples."""

from __future__ import annotations

import os
import statistics
import sys
import uuid
from typing import Any
from urllib.parse import urlsplit, urlunsplit


def database_urls() -> tuple[str, str, str]:
    """(the server's URL from DATABASE_URL, a URL for a new database on it, that database's name)."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("This benchmark needs PostgreSQL: set DATABASE_URL=postgres://...")
    parts = urlsplit(url)
    name = f"nofx_bench_{uuid.uuid4().hex[:8]}"
    return url, urlunsplit(parts._replace(path=f"/{name}")), name


def admin_connection(url: str) -> Any:
    """An autocommit connection to the server's `postgres` database, to create and drop the throwaway one."""
    import psycopg

    parts = urlsplit(url)
    return psycopg.connect(
        host=parts.hostname,
        port=parts.port or 5432,
        user=parts.username,
        password=parts.password,
        dbname="postgres",
        autocommit=True,
    )


def median_and_p95(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * len(ordered)) - 1)]
    return statistics.median(ordered), p95
