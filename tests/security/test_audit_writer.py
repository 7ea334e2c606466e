"""Events of actions taken through the gateway reach their chains in batches, in order, and none is lost when a
write fails; everywhere else an event is written when it is recorded."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator

import pytest
from django.db import connection, transaction

from apps.core.after_response import deferred_until_sent
from apps.core.logging import request_id_var
from apps.security import services
from apps.security.models import AuditEvent
from apps.security.services import AuditWriter, record_audit_event, record_audit_event_later, verify_audit_chains
from tests.factories.accounts import OrganizationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def writer(settings, monkeypatch) -> Iterator[AuditWriter]:
    settings.AUDIT_WRITER_FLUSH_SECONDS = 3600  # nothing written by the clock during a test
    settings.AUDIT_WRITER_FLUSH_BATCH = 500
    writer = AuditWriter()
    monkeypatch.setattr(services, "audit_writer", writer)
    yield writer
    writer._pending.clear()
    writer.close()


def _later(organization, action: str) -> None:
    record_audit_event_later(actor=None, action=action, target=organization, data={"step": action})


def test_outside_a_gateway_call_the_event_is_written_at_once(writer):
    # given
    organization = OrganizationFactory()
    # when
    _later(organization, "test.now")
    # then
    assert AuditEvent.objects.filter(action="test.now", chain=str(organization.pk)).count() == 1
    assert writer.pending == 0


def test_in_a_gateway_call_the_event_waits_for_the_response_then_for_the_writer(writer):
    # given
    organization = OrganizationFactory()
    # when the action ran inside a request that defers its bookkeeping
    with deferred_until_sent() as deferred:
        _later(organization, "test.deferred")
    before_sent = writer.pending
    deferred.run()  # the response is sent
    # then the event is handed to the writer, not yet written
    assert before_sent == 0
    assert writer.pending == 1
    assert not AuditEvent.objects.filter(action="test.deferred").exists()
    # and the writer's flush appends it
    assert writer.flush() == 1
    assert AuditEvent.objects.filter(action="test.deferred", chain=str(organization.pk)).count() == 1


def test_a_batch_continues_each_chain_after_what_was_written_directly(writer):
    # given two organizations with events of their own already
    first, second = OrganizationFactory(), OrganizationFactory()
    record_audit_event(actor=None, action="test.direct", target=first)
    with deferred_until_sent() as deferred:
        for action, organization in [("a", first), ("b", second), ("c", first), ("d", second), ("e", first)]:
            _later(organization, f"test.{action}")
    deferred.run()
    # when
    written = writer.flush()
    # then every event is in its organization's chain, in the order recorded, with no gap
    assert written == 5
    chain = list(AuditEvent.objects.filter(chain=str(first.pk)).order_by("seq"))
    assert [(e.seq, e.action) for e in chain] == [(1, "test.direct"), (2, "test.a"), (3, "test.c"), (4, "test.e")]
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(chain))
    other = AuditEvent.objects.filter(chain=str(second.pk)).order_by("seq")
    assert [(e.seq, e.action) for e in other] == [(1, "test.b"), (2, "test.d")]
    assert verify_audit_chains().ok


@pytest.mark.postgres
def test_a_batch_the_database_refused_is_written_later_and_the_chain_stays_whole(writer, table_down, caplog):
    # given a batch waiting, and a database that refuses it (the table is not where the writer looks)
    organization = OrganizationFactory()
    with deferred_until_sent() as deferred:
        _later(organization, "test.kept")
    deferred.run()
    with table_down(AuditEvent):
        failed = writer.flush()
    # when another event is written meanwhile and the database takes writes again
    record_audit_event(actor=None, action="test.meanwhile", target=organization)
    written = writer.flush()
    # then the kept event follows the one written meanwhile, and the failure was logged
    assert (failed, written) == (0, 1)
    chain = AuditEvent.objects.filter(chain=str(organization.pk)).order_by("seq")
    actions = list(chain.values_list("action", flat=True))
    assert actions == ["test.meanwhile", "test.kept"]
    assert "Could not write 1 audit events; keeping them for the next attempt" in caplog.text
    assert verify_audit_chains().ok


def test_an_event_written_later_keeps_the_request_id_of_its_call(writer):
    # given
    organization = OrganizationFactory()
    token = request_id_var.set("req-7f3a")
    try:
        with deferred_until_sent() as deferred:
            _later(organization, "test.traced")
        deferred.run()
    finally:
        request_id_var.reset(token)
    # when written later, outside that request
    writer.flush()
    # then
    event = AuditEvent.objects.get(action="test.traced")
    assert event.request_id == "req-7f3a"
    assert event.data == {"step": "test.traced"}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_writer_gives_way_to_a_request_holding_a_chain(writer, settings):
    # given an event waiting for the writer, and a request's transaction that holds the same chain
    settings.AUDIT_WRITER_LOCK_TIMEOUT = 0.05
    organization = OrganizationFactory()
    with deferred_until_sent() as deferred:
        _later(organization, "test.kept")
    deferred.run()
    holding, finish = threading.Event(), threading.Event()

    def request() -> None:
        try:
            with transaction.atomic():
                record_audit_event(actor=None, action="test.request", target=organization)
                holding.set()
                finish.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=request)
    thread.start()
    assert holding.wait(10)
    # when the writer flushes meanwhile
    try:
        written_while_held = writer.flush()
    finally:
        finish.set()
        thread.join(10)
    # then it gave way and kept its batch, and writes it once the request is done
    assert written_while_held == 0
    assert writer.flush() == 1
    actions = AuditEvent.objects.filter(chain=str(organization.pk)).order_by("seq").values_list("action", flat=True)
    assert list(actions) == ["test.request", "test.kept"]
    assert verify_audit_chains().ok
