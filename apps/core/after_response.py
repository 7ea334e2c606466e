"""Bookkeeping a request does after its response has been sent, as an API gateway's log phase does.

A WSGI server sends the response, then closes it. While a request runs inside `deferred_until_sent()` (the
gateway opens one around every machine call), `after_response(work)` queues `work`, and `attach()` runs the
queue when the server closes the response, in the same thread and with the request's context (request id
for logs and audit events): the caller already has its answer. Anywhere else (a task, a command, a page
for a person) `after_response` runs the work at once.

Only work whose outcome the response does not report belongs here: the audit event of an external action
that has already happened, usage records, detector counters. A failure is logged (the client cannot be
told any more); work queued before the view failed still runs.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.http import HttpResponseBase

logger = logging.getLogger(__name__)

_queue: contextvars.ContextVar[list[Callable[[], object]] | None] = contextvars.ContextVar(
    "after_response_queue", default=None
)


def after_response(work: Callable[[], object]) -> None:
    """Run `work` once the response is sent, or now when no request is deferring its bookkeeping."""
    queue = _queue.get()
    if queue is None:
        work()
        return
    context = contextvars.copy_context()
    queue.append(lambda: context.run(_run_now, work))


def deferring() -> bool:
    """Whether `after_response` work queued now would wait for the response to be sent."""
    return _queue.get() is not None


def _run_now(work: Callable[[], object]) -> None:
    _queue.set(None)  # work queued by the work itself runs at once (in this copied context only)
    work()


class Deferred:
    """The work one request queued."""

    def __init__(self) -> None:
        self.queue: list[Callable[[], object]] = []

    def run(self) -> None:
        work, self.queue = self.queue, []
        for item in work:
            try:
                item()
            except Exception:
                logger.exception("Work after the response failed")

    def attach(self, response: HttpResponseBase) -> None:
        """Run the queue when the server closes the response (before Django's own end-of-request work)."""
        if not self.queue:
            return
        close = response.close

        def run_then_close() -> None:
            try:
                self.run()
            finally:
                close()

        response.close = run_then_close  # type: ignore[method-assign]


@contextmanager
def deferred_until_sent() -> Iterator[Deferred]:
    """Queue `after_response` work of this block; if the block raises, the work runs before the error goes on."""
    deferred = Deferred()
    token = _queue.set(deferred.queue)
    try:
        yield deferred
    except BaseException:
        _queue.reset(token)
        deferred.run()
        raise
    _queue.reset(token)
