"""What the cron services share: the error, task names, the ``cron`` event, next runs."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.db import transaction

from agents.lib import cron_schedule
from agents.models import CronJob
from core import events

CRON_TICK_TASK = "cron.tick"
CRON_RUN_TASK = "cron.run"
# Runs that failed in a row push a recurring job's next run back at least this far
# (OpenClaw: 30 s, 1 m, 5 m, 15 m, 60 m); a one-shot job is retried after 30 s, 1 m and
# 5 m, then disabled.
RECURRING_BACKOFF_S = (30, 60, 300, 900, 3600)
ONE_SHOT_RETRY_S = (30, 60, 300)


class CronError(Exception):
    """A cron request that cannot be done; ``message`` says what to fix."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def ms(value: datetime | None) -> int | None:
    return int(value.timestamp() * 1000) if value is not None else None


def announce(job_id: str, action: str, **fields: Any) -> None:
    """Publish the ``cron`` event ``{jobId, action, ...}`` once the transaction commits."""
    payload = {"jobId": job_id, "action": action}
    payload.update({k: v for k, v in fields.items() if v is not None})
    transaction.on_commit(partial(events.publish, "cron", payload))


def scheduled_next(job: CronJob, *, after: datetime) -> datetime | None:
    """The job's next slot after ``after`` (None for a disabled job or a spent schedule)."""
    if not job.enabled:
        return None
    return cron_schedule.next_run(job.schedule, after=after, job_id=str(job.public_id))


def next_after_failure(job: CronJob, *, errors: int, now: datetime) -> datetime | None:
    """Where a job goes after ``errors`` failed runs in a row (OpenClaw's back-off)."""
    if job.schedule_kind == CronJob.ScheduleKind.AT:
        if errors > len(ONE_SHOT_RETRY_S):
            return None
        return now + timedelta(seconds=ONE_SHOT_RETRY_S[errors - 1])
    natural = job.next_run_at
    if natural is None or natural <= now:
        natural = scheduled_next(job, after=now)
    if natural is None:
        return None
    backoff = RECURRING_BACKOFF_S[min(errors, len(RECURRING_BACKOFF_S)) - 1]
    return max(natural, now + timedelta(seconds=backoff))
