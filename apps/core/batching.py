"""Rows a request hands over and a background thread of the same process writes in batches.

A busy endpoint that wrote one row per call paid a transaction of several round trips on every call, and
the database paid a commit for each. A `BatchWriter` takes the row and returns at once; its thread writes
what has gathered every `<PREFIX>_FLUSH_SECONDS`, or at once when `<PREFIX>_FLUSH_BATCH` rows wait, and
what is left when the process exits. With the interval at 0 (the test settings) each row is written when
it is handed over.

Nothing is lost to a database that is briefly away: a batch it refuses stays queued for the next attempt,
up to `<PREFIX>_MAX_PENDING` rows (then the oldest are dropped and the loss is logged). A row the database
can never take (an integrity or data error) is dropped alone, logged, and does not hold up the rest. A
process that dies without exiting loses the rows of its last interval; use a writer only for rows whose
loss in a crash is acceptable and that nobody needs to read back before the interval is over.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.db import DataError, IntegrityError, close_old_connections, connection, connections, models

logger = logging.getLogger(__name__)

Row = TypeVar("Row")


class BatchWriter(Generic[Row]):
    """This process's queue of `Row`s and the thread that writes them. Subclasses say how to write a batch."""

    #: Prefix of the settings `<prefix>_FLUSH_SECONDS`, `_FLUSH_BATCH` and `_MAX_PENDING` (read only when
    #: `write` raises, so a writer that never raises needs no cap).
    settings_prefix = ""
    #: What one row is, for the log ("usage record").
    noun = "row"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[Row] = []
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._stopping = False

    # -- What a subclass provides --------------------------------------------------------------------------

    def write(self, batch: list[Row]) -> None:
        """Write the rows, in order, all or none."""
        raise NotImplementedError

    def describe(self, row: Row) -> str:
        """A few words naming a row in the log when it is dropped (ids, never personal data)."""
        return ""

    # -- Settings, read on each use so that a change applies at once -----------------------------------------

    def _setting(self, name: str) -> float:
        value: float = getattr(settings, f"{self.settings_prefix}_{name}")
        return value

    @property
    def flush_seconds(self) -> float:
        return self._setting("FLUSH_SECONDS")

    # -- The queue -------------------------------------------------------------------------------------------

    def add(self, row: Row) -> None:
        if self.flush_seconds <= 0:
            self.write([row])
            return
        with self._lock:
            self._start_if_needed()
            self._pending.append(row)
            full = len(self._pending) >= self._setting("FLUSH_BATCH")
        if full:
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def flush(self) -> int:
        """Write everything waiting now; returns how many rows were written (0 when the write failed)."""
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return 0
        try:
            self.write(batch)
        except (IntegrityError, DataError):
            # Some row can never be written (what it points at was deleted meanwhile, say): write the rest singly.
            return self._write_singly(batch)
        except Exception:
            logger.exception("Could not write %s %ss; keeping them for the next attempt", len(batch), self.noun)
            self._requeue(batch)
            return 0
        return len(batch)

    def _write_singly(self, batch: list[Row]) -> int:
        written = 0
        for index, row in enumerate(batch):
            try:
                self.write([row])
            except (IntegrityError, DataError) as exc:
                logger.error("Dropped a %s %s the database refuses: %s", self.noun, self.describe(row), exc)
            except Exception:
                logger.exception("Could not write %ss; keeping them for the next attempt", self.noun)
                self._requeue(batch[index:])
                break
            else:
                written += 1
        return written

    def _requeue(self, batch: list[Row]) -> None:
        with self._lock:
            self._pending[:0] = batch
            overflow = len(self._pending) - int(self._setting("MAX_PENDING"))
            if overflow > 0:
                del self._pending[:overflow]
                logger.error("Dropped the %s oldest %ss: the database refused them too long", overflow, self.noun)

    # -- The thread ------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the background thread and write what is left."""
        thread, self._thread = self._thread, None
        self._stopping = True
        self._wake.set()
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout=10)
        self._stopping = False
        self.flush()

    def _start_if_needed(self) -> None:
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            return
        if self._pid != os.getpid():
            # A forked child starts with its parent's queue, which the parent writes itself.
            self._pending = []
            atexit.register(self.flush)
        self._pid = os.getpid()
        name = f"{self.noun.replace(' ', '-')}-writer"
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stopping:
                # Never a busy loop, even if the interval is switched off while the thread runs.
                self._wake.wait(max(self.flush_seconds, 0.05))
                self._wake.clear()
                if self._stopping:
                    return
                # This thread's own database connection: dropped and reopened if the server went away.
                close_old_connections()
                self.flush()
        finally:
            connections.close_all()


@contextmanager
def lock_wait_limited(seconds: float) -> Iterator[None]:
    """Inside a transaction: a row lock not granted within `seconds` raises (OperationalError) instead of
    waiting. A background writer uses it to give way to requests holding the rows it wants. PostgreSQL's
    `lock_timeout`, set for this transaction only and put back afterwards; elsewhere it does nothing."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('lock_timeout')")
        (previous,) = cursor.fetchone()
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{max(int(seconds * 1000), 1)}ms"])
    yield
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", [previous])


def insert_rows(model: type[models.Model], rows: Sequence[Mapping[str, Any]]) -> None:
    """Append rows (field attname -> value; every row names the same fields) in one statement.

    PostgreSQL takes them with COPY, which costs a writer thread a fraction of the CPU of the multi-row
    INSERT the ORM builds (no model instances, no parameter arrays) and so takes the interpreter away from
    the requests around it for less time; other databases get `bulk_create`. Sends no model signals and
    reads no primary keys back.
    """
    if not rows:
        return
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create([model(**row) for row in rows])
        return
    concrete = {field.attname: field for field in model._meta.concrete_fields}
    columns_of = [(name, concrete[name]) for name in rows[0]]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(str(field.column)) for _, field in columns_of)
    statement = f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN"
    # The driver's own cursor does the COPY; its errors are turned into Django's (IntegrityError, DataError).
    with connection.wrap_database_errors, connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([field.get_db_prep_save(row[name], connection) for name, field in columns_of])


def insert_instances(objs: Sequence[models.Model]) -> None:
    """`insert_rows` for unsaved model instances of one model, an auto-incremented key left to the database."""
    if not objs:
        return
    model = type(objs[0])
    fields = [field for field in model._meta.concrete_fields if field is not model._meta.auto_field]
    insert_rows(model, [{field.attname: getattr(obj, field.attname) for field in fields} for obj in objs])
