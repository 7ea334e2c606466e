"""The audit log is append-only and hash-chained; any edit is caught at its exact seq."""

from __future__ import annotations

import importlib
import itertools
import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, connections, transaction

from apps.security import audit_chain
from apps.security.models import PLATFORM_CHAIN, AuditChainHead, AuditEvent, AuditVerification
from apps.security.services import record_audit_event, verify_audit_chains
from tests.factories.accounts import OrganizationFactory, TeamFactory, UserFactory

trigger_sql = importlib.import_module("apps.security.migrations.0002_audit_append_only")


def _events(organization, n=3):
    actor = UserFactory()
    return [
        record_audit_event(actor=actor, action=f"test.event_{i}", target=organization, data={"i": i}) for i in range(n)
    ]


@pytest.mark.django_db
def test_events_of_one_organization_form_a_gap_free_linked_chain():
    # given
    organization = OrganizationFactory()
    # when
    events = _events(organization, 4)
    # then
    assert [e.seq for e in events] == [1, 2, 3, 4]
    assert events[0].prev_hash == "0" * 64
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))
    assert {e.chain for e in events} == {str(organization.pk)}
    head = AuditChainHead.objects.get(chain=str(organization.pk))
    assert (head.seq, head.hash) == (4, events[-1].hash)


@pytest.mark.django_db
def test_each_organization_and_the_platform_have_their_own_chain():
    # given
    first, second = OrganizationFactory(), OrganizationFactory()
    # when
    _events(first, 2)
    _events(second, 1)
    platform = record_audit_event(actor=None, action="test.platform_event")
    # then
    assert AuditEvent.objects.filter(chain=str(second.pk)).get().seq == 1
    assert platform.chain == PLATFORM_CHAIN
    assert platform.actor_type == "system"


@pytest.mark.django_db
def test_the_organization_is_taken_from_the_target_when_not_given():
    team = TeamFactory()

    event = record_audit_event(actor=None, action="test.team_touched", target=team)

    assert event.organization_id == team.organization_id
    assert (event.target_type, event.target_id) == ("accounts.team", str(team.pk))


@pytest.mark.django_db
def test_the_stored_hash_covers_the_content_as_read_back_from_the_database():
    organization = OrganizationFactory()
    event = record_audit_event(
        actor=None, action="test.unicode", target=organization, data={"name": "Zürich ✓", "n": 1.5, "nested": [1]}
    )

    row = AuditEvent.objects.filter(pk=event.pk).values(*audit_chain.HASHED_FIELDS, "hash").get()

    assert audit_chain.event_hash(row) == event.hash


@pytest.mark.django_db
def test_verification_passes_on_an_untouched_log_and_is_recorded():
    _events(OrganizationFactory(), 3)

    call_command("verify_audit_chain")

    verification = AuditVerification.objects.latest()
    assert verification.ok
    assert verification.events_checked == 3


@pytest.mark.django_db
def test_a_raw_edit_that_bypasses_the_service_is_named_at_its_seq():
    # given an edit straight to the table (the suite's schema has no trigger; see the PostgreSQL tests)
    organization = OrganizationFactory()
    events = _events(organization, 5)
    AuditEvent.objects.filter(pk=events[2].pk).update(data={"i": 99})
    # when
    with pytest.raises(CommandError) as excinfo:
        call_command("verify_audit_chain")
    # then
    assert "seq 3" in str(excinfo.value)
    assert AuditVerification.objects.latest().broken_seq == 3


@pytest.mark.django_db
def test_a_deleted_event_in_the_middle_is_reported_as_missing():
    organization = OrganizationFactory()
    events = _events(organization, 4)
    rows = [
        r
        for r in AuditEvent.objects.filter(chain=str(organization.pk))
        .order_by("seq")
        .values(*audit_chain.HASHED_FIELDS, "hash")
        if r["seq"] != 2
    ]

    _, _, broken = audit_chain.verify_chain(str(organization.pk), rows)

    assert broken is not None
    assert broken.seq == 2
    assert "missing" in broken.reason
    assert events


@pytest.mark.django_db
def test_a_rewritten_and_rehashed_event_is_caught_by_the_next_link():
    organization = OrganizationFactory()
    _events(organization, 3)
    rows = list(
        AuditEvent.objects.filter(chain=str(organization.pk)).order_by("seq").values(*audit_chain.HASHED_FIELDS, "hash")
    )
    # The forger recomputes the hash of the event they changed, but cannot fix the chain after it.
    rows[1]["data"] = {"i": 1000}
    rows[1]["hash"] = audit_chain.event_hash(rows[1])

    _, _, broken = audit_chain.verify_chain(str(organization.pk), rows)

    assert broken is not None
    assert broken.seq == 3
    assert "prev_hash" in broken.reason


@pytest.mark.django_db
def test_personal_data_of_the_actor_is_not_written_into_the_log():
    actor = UserFactory(email="secret.person@example.com", full_name="Secret Person")

    event = record_audit_event(actor=actor, action="test.private", target=OrganizationFactory())

    assert event.actor_id == str(actor.pk)
    stored = audit_chain.canonical_payload(
        AuditEvent.objects.filter(pk=event.pk).values(*audit_chain.HASHED_FIELDS).get()
    ).decode()
    assert "secret.person" not in stored
    assert "Secret Person" not in stored


# -- PostgreSQL: the trigger, the owner's bypass, concurrency ------------------------------------------------


@pytest.fixture
def audit_trigger(pg_cursor):
    """The real migration's trigger, installed inside the test's transaction (rolled back after)."""
    pg_cursor.execute(trigger_sql.FORWARD)
    return pg_cursor


@pytest.mark.postgres
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE security_auditevent SET action = 'forged'",
        "DELETE FROM security_auditevent",
        "TRUNCATE security_auditevent",
    ],
)
def test_postgres_refuses_to_change_or_remove_audit_rows(audit_trigger, statement):
    # given
    _events(OrganizationFactory(), 2)
    # when / then
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        audit_trigger.execute(statement)
    assert AuditEvent.objects.filter(action="forged").count() == 0
    assert AuditEvent.objects.count() == 2


@pytest.mark.postgres
def test_an_owner_edit_with_the_trigger_disabled_is_caught_at_the_exact_seq(audit_trigger):
    # given
    organization = OrganizationFactory()
    events = _events(organization, 6)
    # when the table owner switches the trigger off, edits one row and switches it back on
    audit_trigger.execute("ALTER TABLE security_auditevent DISABLE TRIGGER security_auditevent_no_update_delete")
    audit_trigger.execute("UPDATE security_auditevent SET data = '{\"i\": 42}'::jsonb WHERE id = %s", [events[3].pk])
    audit_trigger.execute("ALTER TABLE security_auditevent ENABLE TRIGGER security_auditevent_no_update_delete")
    # then
    with pytest.raises(CommandError, match=r"broken at seq 4"):
        call_command("verify_audit_chain")
    verification = AuditVerification.objects.latest()
    assert (verification.ok, verification.broken_chain, verification.broken_seq) == (False, str(organization.pk), 4)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_writers_leave_one_gap_free_chain():
    # given
    organization = OrganizationFactory()
    barrier = threading.Barrier(20)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            for i in range(5):
                record_audit_event(
                    actor=None, action="test.concurrent", organization=organization, data={"w": n, "i": i}
                )
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    # when
    threads = [threading.Thread(target=writer, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # then
    assert errors == []
    seqs = list(AuditEvent.objects.filter(chain=str(organization.pk)).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, 101))
    assert verify_audit_chains().ok
    assert connection.vendor == "postgresql"
