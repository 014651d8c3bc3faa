"""Enqueue the runtime's Celery tasks by name, on commit, as ``core.leases`` does.

The loop, its collaborators and the run services wake a worker without importing
``agents.tasks`` (which imports them): the broker message names the task, the worker's
registry finds it, and ``CELERY_TASK_ROUTES`` puts it on its queue (``llm``).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import transaction

from core.broker import send_task

RUN_ADVANCE_TASK = "agents.run_advance"


def send(task_name: str, *args: Any) -> None:
    """Publish one task message now (tests replace this to capture what is sent); a broker
    that is down is logged and left to the sweeper (``core.broker``)."""
    send_task(task_name, args)


def send_on_commit(task_name: str, *args: Any) -> None:
    """Publish one task message once the current transaction commits (at once outside one)."""
    transaction.on_commit(partial(send, task_name, *args))


def run_advance_enqueue(run_pk: int) -> None:
    """Wake a worker for this run once the transaction commits (``agents.run_advance``)."""
    send_on_commit(RUN_ADVANCE_TASK, run_pk)
