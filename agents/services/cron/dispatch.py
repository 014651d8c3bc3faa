"""The cron tick: claim due jobs by compare-and-set on ``next_run_at``, once each.

Beat runs ``cron.tick`` every ``OPENCLAW_CRON_TICK_SECONDS`` in both modes. A tick
first records the runs that ended (``complete``), then claims what is due: one indexed
query (``cronjob_due_idx``: enabled jobs by ``next_run_at``) finds the candidates, and
each is claimed by

    UPDATE cronjob SET next_run_at = <next slot after now>, running_at = now
    WHERE id = ? AND enabled AND next_run_at = <the value read> AND running_at IS NULL

in its own transaction, with its ``CronRun`` row and, on commit, its ``cron.run`` task.
Only the tick (or ``cron.run``) whose UPDATE changed the row runs the job, so two beats,
two gateways or a gateway and a ``celery beat`` never run a slot twice. The new
``next_run_at`` is the first slot after *now*, not after the missed one: a job missed
while the gateway was down runs once when it is back, then keeps to its schedule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from agents.models import CronJob, CronRun
from agents.runtime.enqueue import send_on_commit
from agents.services.cron.complete import cron_reconcile
from agents.services.cron.shared import CRON_RUN_TASK, scheduled_next

# Jobs claimed per tick at most; the rest are due still and go at the next tick.
TICK_BATCH = 100


@dataclass(frozen=True)
class TickReport:
    claimed: int
    completed: int
    healed: int

    @property
    def total(self) -> int:
        return self.claimed + self.completed + self.healed


def cron_tick(*, now: datetime | None = None, dispatch: bool = True) -> TickReport:
    """One beat tick: finish the runs that ended, then start the jobs that are due.

    ``dispatch=False`` (``OPENCLAW_SKIP_CRON=1``) only finishes runs: jobs started by
    hand still end, nothing starts on its own. Not one transaction: each claim and each
    ending is its own.
    """
    now = now or timezone.now()
    completed = cron_reconcile(now=now)
    if not dispatch:
        return TickReport(claimed=0, completed=completed, healed=0)
    healed = _heal(now=now)
    claimed = cron_dispatch_due(now=now)
    return TickReport(claimed=len(claimed), completed=completed, healed=healed)


def cron_dispatch_due(*, now: datetime, limit: int = TICK_BATCH) -> list[int]:
    """Claim the jobs due at ``now`` (oldest first) and return their new CronRun ids.

    One indexed query when nothing is due; a job another dispatcher claimed first is
    skipped.
    """
    due = list(
        CronJob.objects.filter(enabled=True, next_run_at__lte=now, running_at__isnull=True)
        .select_related("agent")
        .order_by("next_run_at")[:limit]
    )
    claimed = []
    for job in due:
        run_pk = _claim(job, now=now)
        if run_pk is not None:
            claimed.append(run_pk)
    return claimed


@transaction.atomic
def _claim(job: CronJob, *, now: datetime) -> int | None:
    """CAS one due job to its next slot; create its run and enqueue it on commit."""
    slot = job.next_run_at
    following = scheduled_next(job, after=now)
    won = CronJob.objects.filter(
        pk=job.pk, enabled=True, next_run_at=slot, running_at__isnull=True
    ).update(next_run_at=following, running_at=now)
    if won != 1 or slot is None:
        return None
    run = CronRun.objects.create(
        job=job,
        job_public_id=job.public_id,
        job_name=job.name,
        agent_slug=job.agent.slug if job.agent is not None else "",
        scheduled_for=slot,
        next_run_at=following,
    )
    send_on_commit(CRON_RUN_TASK, run.pk)
    return run.pk


def _heal(*, now: datetime, limit: int = TICK_BATCH) -> int:
    """Give a next run to enabled jobs written without one (an importer's raw rows).

    The same index answers ``next_run_at IS NULL``; a job whose schedule is spent is
    disabled. An ``at`` job that never ran keeps its time (it runs now if that is past).
    """
    healed = 0
    for job in CronJob.objects.filter(
        enabled=True, next_run_at__isnull=True, running_at__isnull=True
    )[:limit]:
        if job.schedule_kind == CronJob.ScheduleKind.AT and job.last_status != "ok":
            following = job.at
        else:
            following = scheduled_next(job, after=now)
        fields = {"next_run_at": following} if following else {"enabled": False}
        healed += CronJob.objects.filter(pk=job.pk, enabled=True, next_run_at__isnull=True).update(
            **fields
        )
    return healed
