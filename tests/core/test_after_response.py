"""Bookkeeping queued during a machine call runs once the response is sent, never lost and never in the way."""

from __future__ import annotations

import pytest
from django.http import HttpResponse

from apps.core.after_response import after_response, deferred_until_sent
from apps.core.logging import current_request_id, request_id_var

# Closing a response ends its request, as a server does; the connection recycling that goes with it stays off.
pytestmark = pytest.mark.usefixtures("connections_kept_across_requests")


def test_outside_a_deferring_request_the_work_runs_at_once():
    done = []

    after_response(lambda: done.append("now"))

    assert done == ["now"]


def test_queued_work_runs_when_the_server_closes_the_response_and_not_before():
    # given
    done = []
    response = HttpResponse("answer")
    with deferred_until_sent() as deferred:
        after_response(lambda: done.append("first"))
        after_response(lambda: done.append("second"))
    deferred.attach(response)
    assert done == []
    # when
    response.close()
    # then
    assert done == ["first", "second"]
    assert response.closed


def test_the_work_sees_the_request_it_was_queued_for():
    # given
    seen = []
    response = HttpResponse()
    token = request_id_var.set("req-42")
    try:
        with deferred_until_sent() as deferred:
            after_response(lambda: seen.append(current_request_id()))
    finally:
        request_id_var.reset(token)
    deferred.attach(response)
    # when
    response.close()
    # then
    assert seen == ["req-42"]


def test_a_failing_piece_is_logged_and_the_rest_still_runs(caplog):
    # given
    done = []
    response = HttpResponse()

    def broken() -> None:
        raise RuntimeError("the database went away")

    with deferred_until_sent() as deferred:
        after_response(broken)
        after_response(lambda: done.append("after the failure"))
    deferred.attach(response)
    # when
    response.close()
    # then
    assert done == ["after the failure"]
    assert "Work after the response failed" in caplog.text
    assert response.closed


def test_work_queued_before_an_error_runs_before_the_error_goes_on():
    done = []

    def failing_view() -> None:
        with deferred_until_sent():
            after_response(lambda: done.append("recorded"))
            raise ValueError("view failed")

    with pytest.raises(ValueError, match="view failed"):
        failing_view()

    assert done == ["recorded"]


def test_work_queued_by_queued_work_runs_at_once():
    # given
    done = []
    response = HttpResponse()
    with deferred_until_sent() as deferred:
        after_response(lambda: after_response(lambda: done.append("nested")))
    deferred.attach(response)
    # when
    response.close()
    # then
    assert done == ["nested"]


def test_after_the_block_nothing_is_deferred_any_more():
    done = []
    with deferred_until_sent():
        pass

    after_response(lambda: done.append("now"))

    assert done == ["now"]
