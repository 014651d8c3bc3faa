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

from agents.runtime.warm import warm_in_background
from core import kombu_memory
from core.localbroker import BrokerServer
from gateway import bus
from gateway.workers import WorkerProcesses

logger = logging.getLogger(__name__)

QUEUES = ("default", "llm", "connectors")
# How long a stop waits for a worker still starting to be up.
STARTING_WAIT_S = 3.0


class EmbeddedCelery:
    """Start and stop the in-process worker and beat.

    ``consume=False``: beat only (the gateway whose worker processes run the tasks);
    ``beat=False``: the worker only (such a worker process).
    """

    def __init__(
        self, *, concurrency: int, hostname: str, consume: bool = True, beat: bool = True
    ) -> None:
        self.concurrency = concurrency
        self.hostname = hostname
        self.consume = consume
        self.with_beat = beat
        self.worker: Any = None
        self.beat: Any = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self.ready = threading.Event()
        # Set once the worker consumes (its consumer is up): stopping a worker still
        # starting makes Celery log an "Unrecoverable error".
        self.consuming = threading.Event()
        self.failed: BaseException | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="celery-worker", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            # The project's app (openclaw_site/__init__.py makes it the current one): the
            # gateway app does not import the project package above it.
            app = current_app
            if not self.consume:
                self._start_beat(app)
                self.ready.set()
                self._stopped.wait()
                return
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
                ready_callback=lambda consumer: self.consuming.set(),
            )
            if self.with_beat:
                self._start_beat(app)
            self.ready.set()
            self.worker.start()  # blocks until stop()
        except BaseException as exc:
            self.failed = exc
            self.ready.set()
            logger.exception("embedded Celery worker stopped with an error")

    def _start_beat(self, app: Any) -> None:
        # The base scheduler keeps its state in memory: every schedule we run is either
        # a system chore or a CronJob whose state lives in the database.
        self.beat = EmbeddedService(
            app, thread=True, scheduler_cls="celery.beat:Scheduler", max_interval=30
        )
        self.beat.start()

    def stop(self, timeout: float) -> None:
        """Stop beat and the worker, waiting at most ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        self._stopped.set()
        if self.worker is not None:
            self.consuming.wait(max(0.0, min(STARTING_WAIT_S, deadline - time.monotonic())))
        if self.beat is not None:
            self.beat.stop()
        if self.worker is not None:
            if settings.CELERY_BROKER_URL == "memory://":
                kombu_memory.wake_all()
            self.worker.stop(in_sighandler=False, exitcode=0)
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))


class EmbeddedRuntime:
    """What runs the tasks of an embedded gateway: beat and the worker threads of this
    process, or (``processes`` > 0) beat here and the tasks in worker processes served
    by this process's broker (``gateway.workers``, ``core.localbroker``)."""

    def __init__(self, *, threads: int, pollers: int, processes: int, hostname: str) -> None:
        self.processes = processes
        self.celery = EmbeddedCelery(
            # A poller holds a thread through each long poll: one more thread each.
            concurrency=threads + pollers,
            hostname=hostname,
            consume=not processes,
        )
        self.broker: BrokerServer | None = None
        self.workers: WorkerProcesses | None = None
        if processes:
            self.broker = BrokerServer(on_event=bus.publish_local)
            self.workers = WorkerProcesses(
                count=processes,
                broker_env={**self.broker.env(), "OPENCLAW_WORKER_POLLERS": str(pollers)},
            )

    def start(self) -> list[str]:
        """Start everything; the lines to tell the operator."""
        lines = []
        if self.broker is not None and self.workers is not None:
            self.broker.start()
            self.workers.start()
            lines.append(f"Started {self.processes} worker process(es)")
        self.celery.start()
        if self.workers is None:
            warm_in_background()  # this process runs the turns: load the model SDK now
        return lines

    def stopping(self) -> None:
        """The gateway is stopping: tell the worker processes now (they hand back their
        runs while this process hands back its own)."""
        if self.workers is not None:
            self.workers.terminate()

    def stop(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        if self.workers is not None and self.broker is not None:
            self.workers.stop(timeout=max(0.1, timeout * 0.6))
            self.broker.stop()
        self.celery.stop(timeout=max(0.1, deadline - time.monotonic()))
