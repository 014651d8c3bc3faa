"""A real Celery worker (threads pool) and beat inside the gateway process.

Embedded mode has no broker server: tasks travel over kombu's in-process memory
transport (``core.kombu_memory``, woken on publish). This is not eager mode: a task runs
on a worker thread, never inside the caller, so an LLM turn started from a socket
cannot stall the other sockets (STYLE.md 3.5).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from celery import current_app
from celery.beat import EmbeddedService
from django.conf import settings

from core import kombu_memory

logger = logging.getLogger(__name__)

QUEUES = ("default", "llm", "connectors")


class EmbeddedCelery:
    """Start and stop the in-process worker and beat."""

    def __init__(self, *, concurrency: int, hostname: str) -> None:
        self.concurrency = concurrency
        self.hostname = hostname
        self.worker: Any = None
        self.beat: Any = None
        self._thread: threading.Thread | None = None
        self.ready = threading.Event()
        self.failed: BaseException | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="celery-worker", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            # The project's app (openclaw_site/__init__.py makes it the current one): the
            # gateway app does not import the project package above it.
            app = current_app
            self.worker = app.WorkController(
                hostname=self.hostname,
                pool_cls="threads",
                concurrency=self.concurrency,
                queues=list(QUEUES),
                without_heartbeat=True,
                without_mingle=True,
                without_gossip=True,
                task_events=False,
                loglevel=logging.WARNING,
            )
            # The base scheduler keeps its state in memory: every schedule we run is
            # either a system chore or a CronJob whose state lives in the database.
            self.beat = EmbeddedService(
                app, thread=True, scheduler_cls="celery.beat:Scheduler", max_interval=30
            )
            self.beat.start()
            self.ready.set()
            self.worker.start()  # blocks until stop()
        except BaseException as exc:
            self.failed = exc
            self.ready.set()
            logger.exception("embedded Celery worker stopped with an error")

    def stop(self, timeout: float) -> None:
        """Stop beat and the worker, waiting at most ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        if self.beat is not None:
            self.beat.stop()
        if self.worker is not None:
            if settings.CELERY_BROKER_URL == "memory://":
                kombu_memory.wake_all()
            self.worker.stop(in_sighandler=False, exitcode=0)
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
