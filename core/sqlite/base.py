"""Django's SQLite backend, with writers queued in the gateway instead of in SQLite.

SQLite lets one writer in at a time. A second one waits in SQLite's busy handler, which
sleeps 1, 2, 5, 10 … up to 100 ms between tries whatever happens meanwhile: under a
burst of Telegram messages, worker threads slept while the write lock stood free, and
the tail latency was made of those sleeps. Here a writer first takes this process's
writer lock (threads queue on it and are woken the moment it is released), then the
lock file beside the database (other processes of the same data dir: the worker
processes, a ``manage.py`` command), then ``BEGIN IMMEDIATE``; the lock is released
after ``COMMIT`` or ``ROLLBACK``. A write statement outside a transaction (autocommit)
takes it for the statement. Readers never take it (WAL lets them read beside the
writer).

Waiting longer than the busy timeout raises ``OperationalError("database is locked")``,
as SQLite itself would.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from typing import Any

from django.db import OperationalError
from django.db.backends.sqlite3 import base

# The first waits of another process's writer: short, as a write transaction here takes
# a millisecond or two; then at most CROSS_PROCESS_MAX_SLEEP_S between tries.
CROSS_PROCESS_FIRST_SLEEP_S = 0.0002
CROSS_PROCESS_MAX_SLEEP_S = 0.002
DEFAULT_TIMEOUT_S = 5.0
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


class WriterLock:
    """One per database file and process: a thread lock, then an ``flock`` on a file."""

    def __init__(self, lock_path: str) -> None:
        self.lock_path = lock_path
        self._threads = threading.Lock()
        self._fd: int | None = None
        self._pid = 0

    def _file(self) -> int:
        # A forked child must not share its parent's open file description: flock
        # locks belong to it, so parent and child would never exclude each other.
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._pid = os.getpid()
        return self._fd

    def acquire(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        if not self._threads.acquire(timeout=timeout_s):
            raise OperationalError("database is locked (a writer of this process held it)")
        try:
            fd = self._file()
            sleep = CROSS_PROCESS_FIRST_SLEEP_S
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise OperationalError(
                            "database is locked (a writer of another process held it)"
                        ) from None
                    time.sleep(sleep)
                    sleep = min(sleep * 2, CROSS_PROCESS_MAX_SLEEP_S)
        except BaseException:
            self._threads.release()
            raise

    def release(self) -> None:
        try:
            if self._fd is not None and self._pid == os.getpid():
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()


_locks: dict[str, WriterLock] = {}
_locks_guard = threading.Lock()


def writer_lock(db_path: str) -> WriterLock:
    """The process's lock of the database file ``db_path``."""
    key = os.path.abspath(db_path)
    with _locks_guard:
        lock = _locks.get(key)
        if lock is None:
            lock = _locks[key] = WriterLock(key + ".lock")
        return lock


class SQLiteCursorWrapper(base.SQLiteCursorWrapper):
    """Takes the writer lock around a write statement run outside a transaction."""

    wrapper: DatabaseWrapper

    def execute(self, query: str, params: Any = None) -> Any:
        wrapper = self.wrapper
        if wrapper.holds_writer_lock or not query.lstrip()[:7].upper().startswith(_WRITES):
            return super().execute(query, params)
        wrapper.writer_lock_acquire()
        try:
            return super().execute(query, params)
        finally:
            wrapper.writer_lock_release()

    def executemany(self, query: str, param_list: Any) -> Any:
        wrapper = self.wrapper
        if wrapper.holds_writer_lock or not query.lstrip()[:7].upper().startswith(_WRITES):
            return super().executemany(query, param_list)
        wrapper.writer_lock_acquire()
        try:
            return super().executemany(query, param_list)
        finally:
            wrapper.writer_lock_release()


class DatabaseWrapper(base.DatabaseWrapper):
    holds_writer_lock = False

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        # A new database file is private (mode 600): it holds transcripts and encrypted
        # secrets. SQLite gives its -wal and -shm files the same mode.
        name = str(conn_params.get("database") or "")
        plain_path = bool(name) and not name.startswith("file:")
        if plain_path and not self.is_in_memory_db() and not os.path.exists(name):
            with contextlib.suppress(FileExistsError, FileNotFoundError):
                os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        return super().get_new_connection(conn_params)

    def get_connection_params(self) -> dict[str, Any]:
        params: dict[str, Any] = super().get_connection_params()
        self.writer_lock_timeout_s = float(params.get("timeout") or DEFAULT_TIMEOUT_S)
        return params

    def _writer_lock(self) -> WriterLock | None:
        if self.is_in_memory_db():
            return None
        return writer_lock(str(self.settings_dict["NAME"]))

    def writer_lock_acquire(self) -> None:
        lock = self._writer_lock()
        if lock is None:
            return
        lock.acquire(getattr(self, "writer_lock_timeout_s", DEFAULT_TIMEOUT_S))
        self.holds_writer_lock = True

    def writer_lock_release(self) -> None:
        if not self.holds_writer_lock:
            return
        self.holds_writer_lock = False
        lock = self._writer_lock()
        if lock is not None:
            lock.release()

    def create_cursor(self, name: str | None = None) -> Any:
        cursor = self.connection.cursor(factory=SQLiteCursorWrapper)
        cursor.wrapper = self
        return cursor

    def _start_transaction_under_autocommit(self) -> None:
        self.writer_lock_acquire()
        try:
            super()._start_transaction_under_autocommit()  # type: ignore[misc]
        except BaseException:
            self.writer_lock_release()
            raise

    def _commit(self) -> Any:
        try:
            return super()._commit()  # type: ignore[misc]
        finally:
            self.writer_lock_release()

    def _rollback(self) -> Any:
        try:
            return super()._rollback()  # type: ignore[misc]
        finally:
            self.writer_lock_release()

    def _close(self) -> Any:
        try:
            return super()._close()  # type: ignore[misc]
        finally:
            self.writer_lock_release()
