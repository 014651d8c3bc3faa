"""Celery tasks of the agents app (interfaces: ids in, one service call)."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.contrib.django.task import DjangoTask
from django.conf import settings
from django.db import close_old_connections

from agents.runtime.enqueue import RUN_ADVANCE_TASK
from agents.runtime.loop import run_advance
from agents.services.compaction import COMPACT_TASK, session_compact_answer
from agents.services.cron import CRON_RUN_TASK, CRON_TICK_TASK, cron_run_execute, cron_tick
from core.dbdown import chore

logger = logging.getLogger(__name__)

# Queue: ``llm``, by CELERY_TASK_ROUTES (the per-task ``queue`` option is deprecated in
# Celery 5). The loop and the run services send this task by name (agents.runtime.enqueue).
# The run's limit (OPENCLAW_RUN_TIMEOUT_S) is enforced in every pool by the process's
# watchdog (agents.runtime.watchdog; Celery's threads pool ignores these two). They are a last
# resort on a prefork worker, after the watchdog had its turn; keep them under the Redis
# visibility timeout (3600 s), so a slow run is never delivered twice.
RUN_SOFT_TIME_LIMIT_S = int(settings.AGENT_RUN_TIMEOUT_S) + 30
RUN_TIME_LIMIT_S = RUN_SOFT_TIME_LIMIT_S + 30


@shared_task(
    name=RUN_ADVANCE_TASK,
    base=DjangoTask,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    soft_time_limit=RUN_SOFT_TIME_LIMIT_S,
    time_limit=RUN_TIME_LIMIT_S,
)
def run_advance_task(run_pk: int) -> None:
    """Advance one run (by pk); a redelivery for a finished or claimed run does nothing."""
    # Connections are kept across tasks (CELERY_DB_REUSE_MAX): drop one that is broken
    # or past CONN_MAX_AGE, and health-check it before reuse, as Django does per request.
    close_old_connections()
    run_advance(run_pk=run_pk)


# Acked on receipt, not late: a manual compaction answers a client that waits for it;
# redelivered after a crash it would compact again, unasked. The summary is bounded by
# the provider timeout times the attempts, under the global soft time limit.
@shared_task(name=COMPACT_TASK, base=DjangoTask, acks_late=False, ignore_result=True)
def session_compact_task(key: str, request_id: str, instructions: str | None = None) -> None:
    """``sessions.compact``'s slow half: summarize ``key`` and announce the outcome."""
    close_old_connections()
    session_compact_answer(key=key, request_id=request_id, instructions=instructions)


# Cron (agents.services.cron). Named outside ``agents.*`` so CELERY_TASK_ROUTES leaves them
# on the ``default`` queue: a tick must not wait behind model turns on ``llm``.
@shared_task(
    name=CRON_TICK_TASK,
    base=DjangoTask,
    acks_late=False,
    ignore_result=True,
    soft_time_limit=50,
    time_limit=60,
)
@chore("cron tick")
def cron_tick_task() -> None:
    """Finish cron runs that ended; claim and enqueue the jobs that are due."""
    close_old_connections()
    report = cron_tick(dispatch=settings.CRON_ENABLED)
    if report.total:
        logger.info(
            "cron tick: %s started, %s finished, %s rescheduled",
            report.claimed,
            report.completed,
            report.healed,
        )


@shared_task(
    name=CRON_RUN_TASK,
    base=DjangoTask,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    soft_time_limit=50,
    time_limit=60,
)
def cron_run_task(cron_run_pk: int) -> None:
    """Start one claimed cron run (by pk); a redelivery for a started run does nothing."""
    close_old_connections()
    cron_run_execute(cron_run_pk=cron_run_pk)
