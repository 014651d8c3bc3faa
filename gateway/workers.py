"""The worker processes of an embedded gateway (``OPENCLAW_WORKER_PROCESSES``).

One Python process runs on one core at a time: with N worker processes the gateway
keeps its sockets, beat and the broker's queues (``core.localbroker``), and the tasks
(agent turns, the Telegram inbox and outbox, pollers) run in the workers, each
``manage.py embedded_worker`` with ``OPENCLAW_WORKER_THREADS`` threads.

A worker reads a pipe the gateway holds open and exits the moment it closes: when the
gateway dies, even by SIGKILL, its workers die with it, so a gateway started next never
finds a worker of the old one still running work it recovers. A worker that exits
while the gateway runs is restarted (after 1, 2, 4 … 30 s), and the work it held (runs,
inbox and outbox rows, by its lease owner ``<host>:<pid>:``; the channel pollers) is
handed back at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from django.conf import settings

from channels_app.services.polling import pollers_ensure
from core import localbroker
from core.leases import work_recover

logger = logging.getLogger(__name__)

MANAGE_PY = Path(settings.BASE_DIR) / "manage.py"
PARENT_FD_ENV = "OPENCLAW_GATEWAY_PIPE_FD"
RESTART_BACKOFF_MAX_S = 30.0
CHECK_EVERY_S = 0.5


class _Worker:
    def __init__(self, index: int) -> None:
        self.index = index
        self.proc: subprocess.Popen[bytes] | None = None
        self.pipe_w: int | None = None
        self.failures = 0
        self.restart_at = 0.0


class WorkerProcesses:
    """Start, watch, restart and stop the worker processes."""

    def __init__(self, *, count: int, broker_env: dict[str, str]) -> None:
        self.broker_env = broker_env
        self.workers = [_Worker(i) for i in range(count)]
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        for worker in self.workers:
            self._spawn(worker)
        self._thread = threading.Thread(target=self._watch, name="worker-processes", daemon=True)
        self._thread.start()

    def pids(self) -> list[int]:
        with self._lock:
            return [w.proc.pid for w in self.workers if w.proc is not None]

    def _spawn(self, worker: _Worker) -> None:
        pipe_r, pipe_w = os.pipe()
        env = {**os.environ, **self.broker_env, PARENT_FD_ENV: str(pipe_r)}
        env["OPENCLAW_WORKER_INDEX"] = str(worker.index)
        try:
            proc = subprocess.Popen(  # noqa: S603  (our own interpreter and manage.py)
                [sys.executable, str(MANAGE_PY), "embedded_worker"],
                env=env,
                pass_fds=(pipe_r,),
                cwd=str(MANAGE_PY.parent),
            )
        finally:
            os.close(pipe_r)
        with self._lock:
            worker.proc, worker.pipe_w = proc, pipe_w

    def _watch(self) -> None:
        while not self._stopping.wait(CHECK_EVERY_S):
            for worker in self.workers:
                self._check(worker)

    def _check(self, worker: _Worker) -> None:
        proc = worker.proc
        if proc is not None and proc.poll() is None:
            return
        now = time.monotonic()
        if proc is not None:
            code = proc.returncode
            with self._lock:
                worker.proc = None
                if worker.pipe_w is not None:
                    os.close(worker.pipe_w)
                    worker.pipe_w = None
            worker.failures += 1
            delay = min(RESTART_BACKOFF_MAX_S, 2.0 ** (worker.failures - 1))
            worker.restart_at = now + delay
            logger.warning(
                "worker process %d (pid %d) exited with code %s; restarting in %.0f s",
                worker.index,
                proc.pid,
                code,
                delay,
            )
            self._recover(proc.pid)
            return
        if now >= worker.restart_at and not self._stopping.is_set():
            self._spawn(worker)

    def _recover(self, pid: int) -> None:
        from django.db import close_old_connections  # noqa: PLC0415

        try:
            report = work_recover(dead_owner_prefix=f"{socket.gethostname()}:{pid}:")
            if report.total:
                logger.warning("handed back the work of worker pid %d: %s", pid, report.released)
            # A poller chain names its starter, not the process running its link: take
            # every poll lease back. A chain still alive in another worker ends at its
            # next link (its lease is gone); what it fetched meanwhile is stored only
            # while it holds the lease, and Telegram hands it out again.
            pollers_ensure(reclaim=True)
        except Exception:
            logger.exception("handing back the work of worker pid %d failed", pid)
        finally:
            close_old_connections()

    def terminate(self) -> None:
        """SIGTERM every worker: each hands its runs back and stops."""
        self._stopping.set()
        with self._lock:
            procs = [w.proc for w in self.workers if w.proc is not None]
        for proc in procs:
            _signal(proc, signal.SIGTERM)

    def stop(self, timeout: float) -> None:
        """Stop every worker (SIGTERM), waiting at most ``timeout``; SIGKILL what is left."""
        deadline = time.monotonic() + timeout
        self.terminate()
        with self._lock:
            procs = [w.proc for w in self.workers if w.proc is not None]
        for proc in procs:
            try:
                proc.wait(max(0.05, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.warning("worker pid %d did not stop in time: killed", proc.pid)
                _signal(proc, signal.SIGKILL)
                proc.wait(5)
        with self._lock:
            for worker in self.workers:
                if worker.pipe_w is not None:
                    os.close(worker.pipe_w)
                    worker.pipe_w = None


def _signal(proc: subprocess.Popen[Any], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signum)


def watch_parent() -> None:
    """In a worker process: exit at once when the gateway's pipe closes (it died)."""
    fd = int(os.environ.pop(PARENT_FD_ENV, "-1"))
    if fd < 0:
        return

    def wait() -> None:
        try:
            while os.read(fd, 1):
                pass
        except OSError:
            pass
        os._exit(70)  # EX_SOFTWARE: like a SIGKILL, nothing more runs here

    threading.Thread(target=wait, name="gateway-pipe", daemon=True).start()

    def broker_lost() -> None:
        # The gateway's sockets close as it dies, the pipe with them: when the pipe says
        # so within a second, this process ends as above; else the error is raised.
        if select.select([fd], [], [], 1.0)[0]:
            os._exit(70)

    localbroker.on_lost = broker_lost
