"""Celery tasks of the agents app (interfaces: ids in, one service call)."""

from __future__ import annotations

from celery import shared_task
from celery.contrib.django.task import DjangoTask
from django.conf import settings

# Queue: the default one ("default", CELERY_TASK_DEFAULT_QUEUE); the per-task ``queue``
# option is deprecated in Celery 5, routes belong in CELERY_TASK_ROUTES.
# The run's limit (OPENCLAW_RUN_TIMEOUT_S) is enforced in every pool by the process's
# watchdog (agents.runtime.watchdog; Celery's threads pool ignores these two). They are a last
# resort on a prefork worker, after the watchdog had its turn; keep them under the Redis
# visibility timeout (3600 s), so a slow run is never delivered twice.
RUN_SOFT_TIME_LIMIT_S = int(settings.AGENT_RUN_TIMEOUT_S) + 30
RUN_TIME_LIMIT_S = RUN_SOFT_TIME_LIMIT_S + 30


@shared_task(
    name="agents.run_advance",
    base=DjangoTask,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    soft_time_limit=RUN_SOFT_TIME_LIMIT_S,
    time_limit=RUN_TIME_LIMIT_S,
)
def run_advance_task(run_pk: int) -> None:
    """Advance one run (by pk); a redelivery for a finished or claimed run does nothing."""
    from django.db import close_old_connections

    from agents.services.runs import run_advance

    # Connections are kept across tasks (CELERY_DB_REUSE_MAX): drop one that is broken
    # or past CONN_MAX_AGE, and health-check it before reuse, as Django does per request.
    close_old_connections()
    run_advance(run_pk=run_pk)
