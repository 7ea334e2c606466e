"""The real migrations apply to an empty database (the rest of the suite builds tables without them)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)


def _migrate(database_url: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "nofx.settings.test",
    }
    return subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_migrations_apply_to_an_empty_sqlite_database(tmp_path):
    result = _migrate(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")

    assert result.returncode == 0, result.stderr


@pytest.mark.postgres
def test_migrations_apply_to_an_empty_postgres_database_and_install_the_audit_trigger():
    # given an empty database on the same server as the suite's
    db = settings.DATABASES["default"]
    server = {"host": db["HOST"], "port": db["PORT"] or 5432, "user": db["USER"], "password": db["PASSWORD"]}
    name = f"nofx_migrations_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = f"postgres://{db['USER']}:{db['PASSWORD']}@{server['host']}:{server['port']}/{name}"
        # when
        result = _migrate(url)
        # then
        assert result.returncode == 0, result.stderr
        with psycopg.connect(dbname=name, **server) as conn:
            triggers = {
                row[0]
                for row in conn.execute(
                    "SELECT tgname FROM pg_trigger WHERE tgrelid = 'security_auditevent'::regclass AND NOT tgisinternal"
                )
            }
        assert triggers == {"security_auditevent_no_update_delete", "security_auditevent_no_truncate"}
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
