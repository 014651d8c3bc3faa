"""``manage.py embedded_worker``: one worker process of an embedded gateway.

Started by ``manage.py gateway`` when ``OPENCLAW_WORKER_PROCESSES`` is set, never by
hand: it takes its tasks from that gateway's queues (``core.localbroker``) and exits
with it. SIGTERM hands the runs in flight back (as the gateway does) and stops.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from agents.runtime.warm import warm_in_background
from agents.runtime.watchdog import watchdog
from gateway.embedded import EmbeddedCelery
from gateway.workers import watch_parent

EXIT_USAGE = 2
RUN_CUTOFF_WAIT_S = 1.5
# The runs in flight are handed back by then; the process exits right after.
STOP_TIMEOUT_S = 0.5


class Command(BaseCommand):
    help = (
        "A worker process of an embedded gateway (started by `manage.py gateway` when "
        "OPENCLAW_WORKER_PROCESSES is set; not run by hand)."
    )
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.EMBEDDED_BROKER_SOCKET or settings.REDIS_URL:
            self.stderr.write(
                "error: embedded_worker is started by `manage.py gateway` when "
                "OPENCLAW_WORKER_PROCESSES is set; a team-mode worker is "
                "`celery -A openclaw_site worker`"
            )
            sys.exit(EXIT_USAGE)
        watch_parent()
        stop = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        index = os.environ.get("OPENCLAW_WORKER_INDEX", "0")
        celery = EmbeddedCelery(
            # A poller holds a thread through each long poll: one more thread each.
            concurrency=settings.EMBEDDED_WORKER_THREADS
            + int(os.environ.get("OPENCLAW_WORKER_POLLERS", "0")),
            hostname=f"worker{index}-{os.getpid()}@{socket.gethostname()}",
            beat=False,
        )
        celery.start()
        celery.ready.wait()
        if celery.failed is not None:
            sys.exit(1)
        warm_in_background()
        stop.wait()
        # As the gateway does at shutdown: each run in flight stops and is handed back.
        watchdog().shutdown(wait_s=RUN_CUTOFF_WAIT_S)
        celery.stop(timeout=STOP_TIMEOUT_S)
        # A poller's long poll may still hold a pool thread, and the interpreter would
        # wait for it at exit: its lease simply runs out (as after a crash).
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
