"""scripts/db-roles.sql: the application's role cannot change or remove audit rows, by grants alone.

The suite's schema is built without migrations, so it has no append-only trigger: every refusal seen here
comes from the missing privilege.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from apps.security.services import record_audit_event
from tests.factories.accounts import OrganizationFactory

SCRIPT = Path(settings.BASE_DIR) / "scripts" / "db-roles.sql"


@pytest.fixture
def database_roles():
    """The three roles, created by the real script in the test database, dropped afterwards."""
    suffix = uuid.uuid4().hex[:8]
    roles = {name: f"nofx_test_{name}_{suffix}" for name in ("owner", "app", "reporting")}
    db = settings.DATABASES["default"]
    dbname = connection.settings_dict["NAME"]
    server = {"host": db["HOST"] or "127.0.0.1", "port": str(db["PORT"] or 5432), "user": db["USER"]}
    variables = []
    for name, role in roles.items():
        variables += ["-v", f"{name}_role={role}", "-v", f"{name}_password=pw-{suffix}"]
    result = subprocess.run(
        [
            "psql",
            "-X",
            "-q",
            "-h",
            server["host"],
            "-p",
            server["port"],
            "-U",
            server["user"],
            "-d",
            dbname,
            *variables,
            "-f",
            str(SCRIPT),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PGPASSWORD": db["PASSWORD"] or "", "PATH": "/usr/bin:/bin:/usr/local/bin"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    yield {"roles": roles, "server": server, "dbname": dbname, "password": f"pw-{suffix}"}
    with psycopg.connect(
        host=server["host"],
        port=server["port"],
        user=server["user"],
        password=db["PASSWORD"] or None,
        dbname=dbname,
        autocommit=True,
    ) as admin:
        admin.execute(f'REASSIGN OWNED BY "{roles["owner"]}" TO "{server["user"]}"')
        for role in roles.values():
            admin.execute(f'DROP OWNED BY "{role}"')
            admin.execute(f'DROP ROLE "{role}"')


def _connect(env, name):
    return psycopg.connect(
        host=env["server"]["host"],
        port=env["server"]["port"],
        user=env["roles"][name],
        password=env["password"],
        dbname=env["dbname"],
        autocommit=True,
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_application_role_can_append_audit_events_but_grants_refuse_update_delete_and_truncate(database_roles):
    # given an audit log with events
    record_audit_event(actor=None, action="test.before", organization=OrganizationFactory())
    with _connect(database_roles, "app") as app:
        # when / then: reading and appending work
        assert app.execute("SELECT count(*) FROM security_auditevent").fetchone()[0] == 1
        app.execute(
            "INSERT INTO security_auditevent (chain, seq, occurred_at, actor_type, actor_id, action, target_type,"
            " target_id, request_id, data, prev_hash, hash) VALUES ('platform', 1, now(), 'system', '', 'test.app',"
            " '', '', '', '{}', %s, %s)",
            ["0" * 64, "f" * 64],
        )
        app.execute("UPDATE security_auditchainhead SET seq = seq")  # the chain head stays writable
        for statement in (
            "UPDATE security_auditevent SET action = 'forged'",
            "DELETE FROM security_auditevent",
            "TRUNCATE security_auditevent",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied for table"):
                app.execute(statement)
    assert (
        connection.cursor().execute("SELECT count(*) FROM security_auditevent WHERE action = 'forged'").fetchone()[0]
        == 0
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_reporting_role_reads_but_cannot_write_or_read_sessions(database_roles):
    with _connect(database_roles, "reporting") as reporting:
        assert reporting.execute("SELECT count(*) FROM accounts_organization").fetchone()[0] == 0
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            reporting.execute("INSERT INTO accounts_organization (id) VALUES (gen_random_uuid())")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            reporting.execute("SELECT * FROM django_session")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_owner_role_owns_the_tables_and_the_app_role_owns_nothing(database_roles):
    roles = database_roles["roles"]
    with _connect(database_roles, "owner") as owner:
        owners = {
            row[0] for row in owner.execute("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'")
        }
    assert owners == {roles["owner"]}
