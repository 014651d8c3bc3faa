"""Periodic chores of the gateway."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from core.dbdown import chore
from core.leases import work_recover
from gateway.nodes import node_sweep

logger = logging.getLogger(__name__)


@shared_task(name="gateway.work_sweep", ignore_result=True, soft_time_limit=50, time_limit=60)
@chore("work sweep")
def work_sweep_task() -> None:
    """Hand back work whose lease ran out; re-enqueue work left waiting too long."""
    report = work_recover(include_waiting=True, stale_after_seconds=settings.WORK_LEASE_SECONDS)
    if report.total:
        logger.info("work sweep: released %s, enqueued %s", report.released, report.enqueued)


@shared_task(name="gateway.node_sweep", ignore_result=True, soft_time_limit=20, time_limit=25)
@chore("node sweep")
def node_sweep_task() -> None:
    """Record the cluster nodes silent past the timeout as offline (gateway.nodes)."""
    node_sweep()
