"""The SQLite backend's writer lock (core/sqlite/base.py): writers queue in the process
and on a lock file, and are let in the moment the writer before them is done."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from django.db import OperationalError, connection, connections, transaction

from core.sqlite.base import WriterLock, writer_lock
from gateway.models import ConfigEntry

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _sqlite_only() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("the writer lock is SQLite's (this pass runs on PostgreSQL)")


def _lock() -> WriterLock:
    return writer_lock(str(connection.settings_dict["NAME"]))


def _in_thread(target: Any) -> threading.Thread:
    def run() -> None:
        try:
            target()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_second_writer_waits_for_the_first_instead_of_failing() -> None:
    order: list[str] = []
    first_in = threading.Event()
    let_go = threading.Event()

    def first() -> None:
        with transaction.atomic():
            ConfigEntry.objects.create(path="a.b", value="1")
            first_in.set()
            let_go.wait(10)
            order.append("first commits")

    def second() -> None:
        first_in.wait(10)
        with transaction.atomic():
            order.append("second writes")
            ConfigEntry.objects.create(path="a.c", value="2")

    t1, t2 = _in_thread(first), _in_thread(second)
    first_in.wait(10)
    # The second writer is parked on the lock, not inside SQLite's busy handler.
    t2.join(0.3)
    assert t2.is_alive()
    let_go.set()
    t1.join(10)
    t2.join(10)
    assert order == ["first commits", "second writes"]
    assert ConfigEntry.objects.count() == 2


def test_the_lock_is_released_by_commit_rollback_and_close() -> None:
    lock = _lock()
    with transaction.atomic():
        ConfigEntry.objects.create(path="x", value="1")
        assert connection.holds_writer_lock  # type: ignore[attr-defined]
    assert not connection.holds_writer_lock  # type: ignore[attr-defined]

    def fail() -> None:
        with transaction.atomic():
            ConfigEntry.objects.create(path="y", value="1")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail()
    assert not connection.holds_writer_lock  # type: ignore[attr-defined]
    assert not ConfigEntry.objects.filter(path="y").exists()

    transaction.set_autocommit(True)
    connection.writer_lock_acquire()  # type: ignore[attr-defined]
    connection.close()
    assert not connection.holds_writer_lock  # type: ignore[attr-defined]
    # Free again: another thread gets it at once.
    got = threading.Event()

    def take() -> None:
        lock.acquire(1.0)
        got.set()
        lock.release()

    _in_thread(take).join(5)
    assert got.is_set()


def test_a_write_outside_a_transaction_takes_the_lock_too() -> None:
    lock = _lock()
    lock.acquire(1.0)
    done = threading.Event()

    def write() -> None:
        ConfigEntry.objects.create(path="auto", value="1")  # autocommit
        done.set()

    thread = _in_thread(write)
    assert not done.wait(0.3)
    lock.release()
    thread.join(10)
    assert done.is_set()


def test_reads_never_wait_for_the_writer() -> None:
    ConfigEntry.objects.create(path="r", value="1")
    lock = _lock()
    lock.acquire(1.0)
    try:
        seen: list[int] = []
        _in_thread(lambda: seen.append(ConfigEntry.objects.count())).join(5)
        assert seen == [1]
    finally:
        lock.release()


def test_a_writer_of_another_process_is_waited_for_then_named(tmp_path: Path) -> None:
    lock_path = Path(str(connection.settings_dict["NAME"]) + ".lock")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            f"fd = os.open({str(lock_path)!r}, os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "print('held', flush=True)\n"
            "sys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        lock = WriterLock(str(lock_path))
        with pytest.raises(OperationalError, match="another process"):
            lock.acquire(0.2)
        # Once the other process lets go, it is ours.
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(10)
        lock.acquire(5.0)
        lock.release()
    finally:
        holder.kill()
        holder.wait()


def test_a_forked_child_does_not_share_the_parents_lock_file(tmp_path: Path) -> None:
    lock = WriterLock(str(tmp_path / "db.lock"))
    lock.acquire(1.0)
    try:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: the parent holds the lock, so this must time out
            try:
                lock._threads = threading.Lock()  # a fork copies the held thread lock
                lock.acquire(0.2)
                os.write(write, b"got it")
            except OperationalError:
                os.write(write, b"waited")
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        assert os.read(read, 10) == b"waited"
    finally:
        lock.release()
    fd = os.open(str(tmp_path / "db.lock"), os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released for good
    os.close(fd)
