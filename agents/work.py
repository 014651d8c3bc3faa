"""Registers runs as leased work with the sweeper (core.leases)."""

from __future__ import annotations

from agents.models import Run
from agents.runtime.enqueue import RUN_ADVANCE_TASK
from core.leases import WorkKind, register_work_kind

register_work_kind(
    WorkKind(
        label="runs",
        model=Run,
        waiting_status=Run.Status.QUEUED,
        claimed_statuses=(Run.Status.RUNNING,),
        task_name=RUN_ADVANCE_TASK,
    )
)
