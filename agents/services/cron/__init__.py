"""Cron jobs: every write goes through here (the admin, RPCs, the command, the ``cron`` tool,
the beat tick and an importer of OpenClaw's ``cron/jobs.json``).

- ``jobs``: add, update, remove, run now, the admin form's save, and
  ``cron_upsert_from_openclaw`` for one job of OpenClaw's ``jobs.json``;
- ``dispatch``: the beat tick (``cron.tick``): claims due jobs by compare-and-set on
  their indexed ``next_run_at`` and enqueues one ``cron.run`` task per claimed job;
- ``execute``: that task, which starts the job's turn or injects its system event;
- ``heartbeat``: each agent's heartbeat as a system-owned job (``heartbeat-<agent>``)
  made from the configuration, its run and its ``heartbeat`` event;
- ``complete``: the tick's other half, which records how each run ended, delivers an
  isolated job's reply and moves the job to its next run.

Design notes and the OpenClaw rules followed are in ``docs/cron.md``.
"""

from __future__ import annotations

from agents.services.cron.complete import cron_reconcile
from agents.services.cron.dispatch import TickReport, cron_dispatch_due, cron_tick
from agents.services.cron.execute import cron_run_execute
from agents.services.cron.heartbeat import heartbeat_jobs_sync, heartbeat_set_enabled
from agents.services.cron.jobs import (
    RunNow,
    Upserted,
    cron_add,
    cron_job_save,
    cron_remove,
    cron_run_now,
    cron_update,
    cron_upsert_from_openclaw,
)
from agents.services.cron.shared import CRON_RUN_TASK, CRON_TICK_TASK, CronError

__all__ = [
    "CRON_RUN_TASK",
    "CRON_TICK_TASK",
    "CronError",
    "RunNow",
    "TickReport",
    "Upserted",
    "cron_add",
    "cron_dispatch_due",
    "cron_job_save",
    "cron_reconcile",
    "cron_remove",
    "cron_run_execute",
    "cron_run_now",
    "cron_tick",
    "cron_update",
    "cron_upsert_from_openclaw",
    "heartbeat_jobs_sync",
    "heartbeat_set_enabled",
]
