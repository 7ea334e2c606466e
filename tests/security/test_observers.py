"""`observe_quietly`: a failing detector is logged and never breaks the caller or its transaction."""

from __future__ import annotations

from django.db import connection, transaction

from apps.security.models import AuditEvent
from apps.security.observers import acting_person, observe_quietly
from apps.security.services import record_audit_event


def test_a_detector_failing_on_the_database_leaves_the_callers_transaction_usable(db, caplog):
    # given a detector whose query fails
    def broken_query() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table")

    with transaction.atomic():
        # when it is observed inside the caller's transaction
        observe_quietly(broken_query)
        # then the caller can still write
        record_audit_event(actor=None, action="test.after_failure")
    assert AuditEvent.objects.filter(action="test.after_failure").exists()
    assert "Security observation broken_query failed" in caplog.text


def test_the_observation_gets_its_arguments(db):
    seen: dict[str, object] = {}

    observe_quietly(lambda **kwargs: seen.update(kwargs), ip="127.0.0.1", success=True)

    assert seen == {"ip": "127.0.0.1", "success": True}


def test_only_people_are_acting_persons(user):
    from apps.accounts.principals import ServicePrincipal

    machine = ServicePrincipal(client_id="c", application_pk=1, organization=None)  # type: ignore[arg-type]

    assert acting_person(user) is user
    assert acting_person(machine) is None
    assert acting_person(None) is None
