"""How a cron run ends: its outcome recorded, its reply delivered, its job moved on.

Each tick looks at the unfinished runs (a partial index holds only those):

- a run whose turn ended is finished: ``ok`` when the turn succeeded, else ``error``
  with the turn's message; an isolated job's reply goes to its chat through the delivery
  port (``core.delivery``, the channels app's durable outbox), keyed
  ``run:<run id>:reply`` as the run loop keys a channel reply, so it is never queued twice;
- a turn past the job's ``timeoutSeconds`` is aborted (it then ends as above);
- a run still ``queued`` 10 s after its claim (its task was lost with the process that
  held it, or sent by a command to its own in-memory broker) gets its task again; the
  task starts it at most once.

``finish_run`` is one compare-and-set (running → ok/error/skipped), so two ticks never
finish a run twice. The job's state follows: last run, status, error, duration and
delivery; ``running_at`` cleared; a next run still in the past (a slot missed while
this one ran) moved to the next slot after now; failures back off; a one-shot job is
deleted after success (``deleteAfterRun``), else disabled.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from agents.models import CronJob, CronRun, Run
from agents.runtime import enqueue
from agents.runtime.finish import deliverable_text
from agents.services.cron.heartbeat import heartbeat_outcome, heartbeat_publish
from agents.services.cron.shared import (
    CRON_RUN_TASK,
    announce,
    ms,
    next_after_failure,
    scheduled_next,
)
from agents.services.runs import FINISHED_STATUSES, RunError, run_abort, run_status
from core import delivery

logger = logging.getLogger(__name__)

# A claimed run not started after this long lost its task: the claim happened in a process
# whose in-memory broker the workers do not read (``manage.py cron run`` in embedded
# mode), or that process died. Its task is sent again (starting a run is idempotent).
REQUEUE_AFTER = timedelta(seconds=10)
SUMMARY_MAX_CHARS = 2000


def cron_reconcile(*, now: datetime | None = None) -> int:
    """Finish the runs whose turn ended; abort overdue turns; re-send lost tasks.

    Returns how many runs were finished. One indexed query when nothing is in flight.
    """
    now = now or timezone.now()
    finished = 0
    active = (
        CronRun.objects.filter(status__in=(CronRun.Status.QUEUED, CronRun.Status.RUNNING))
        .select_related("run", "run__session", "job")
        .order_by("created_at")[:200]
    )
    for run in active:
        if run.status == CronRun.Status.QUEUED:
            _requeue_if_lost(run, now=now)
        elif run.run is None:
            finished += finish_run(
                run, status=CronRun.Status.ERROR, error="the turn was deleted before it ended"
            )
        elif run.run.status in FINISHED_STATUSES or run.run.status == Run.Status.MERGED:
            finished += _finish_from_turn(run)
        else:
            _abort_if_overdue(run, now=now)
    return finished


def _requeue_if_lost(run: CronRun, *, now: datetime) -> None:
    if run.updated_at > now - REQUEUE_AFTER:
        return
    # Bump updated_at by CAS: of two ticks only one sends, and not again for a minute.
    if CronRun.objects.filter(
        pk=run.pk, status=CronRun.Status.QUEUED, updated_at=run.updated_at
    ).update(updated_at=now):
        logger.info("cron run %s was still queued; its task is sent again", run.public_id)
        enqueue.send(CRON_RUN_TASK, run.pk)


def _abort_if_overdue(run: CronRun, *, now: datetime) -> None:
    job, turn = run.job, run.run
    timeout = (job.payload or {}).get("timeoutSeconds") if job is not None else None
    if not timeout or turn is None or run.started_at is None or turn.cancel_requested:
        return
    if now < run.started_at + timedelta(seconds=int(timeout)):
        return
    CronRun.objects.filter(pk=run.pk).update(error=f"timed out after {int(timeout)} s")
    try:
        run_abort(session_key=turn.session.key, run_id=turn.run_id)
    except RunError as exc:
        logger.warning("cron run %s: could not stop its turn: %s", run.public_id, exc)


def _finish_from_turn(run: CronRun) -> int:
    turn = run.run
    assert turn is not None
    outcome = run_status(run_id=turn.run_id)  # a merged turn answers with its host's outcome
    if outcome is None:
        return finish_run(run, status=CronRun.Status.ERROR, error="the turn disappeared")
    if outcome.status not in FINISHED_STATUSES:
        return 0  # merged into a turn that is still going
    ok = outcome.status == Run.Status.SUCCEEDED
    error = "" if ok else (run.error or outcome.error_message or f"the turn {outcome.status}")
    reply = outcome.reply_text or ""
    event = None
    if run.job is not None and run.job.is_heartbeat:
        now = timezone.now()
        event = heartbeat_outcome(
            run, ok=ok, reply=reply, error=error, started=run.started_at or now, now=now
        )
        if event["status"] == "sent" and (why := _heartbeat_not_queued(turn, reply)):
            event = {**event, "status": "failed", "reason": why, "indicatorType": "error"}
    return finish_run(
        run,
        status=CronRun.Status.OK if ok else CronRun.Status.ERROR,
        error=error,
        summary=reply[:SUMMARY_MAX_CHARS],
        reply=reply if ok else None,
        model=outcome.model,
        usage=outcome.usage,
        heartbeat=event,
    )


def _heartbeat_not_queued(turn: Run, reply: str) -> str:
    """Why a heartbeat's alert is not in its chat's outbox ("" when it is).

    The turn's ending queued it (``agents.runtime.finish``) under the key
    ``run:<run id>:reply``; asking again with that key returns that message, or the
    error that kept it out (no such account, a channel without a connector).
    """
    to = turn.reply_to or {}
    try:
        delivery.deliver(
            delivery.ChannelMessage(
                channel=str(to["channel"]),
                account_id=str(to.get("accountId") or "default"),
                chat_id=str(to["chatId"]),
                thread_id=str(to.get("threadId") or ""),
                text=deliverable_text(reply),
                dedupe_key=f"run:{turn.public_id}:reply",
                run_public_id=turn.public_id,
            )
        )
    except delivery.DeliveryError as exc:
        return str(exc)
    return ""


def _deliver(run: CronRun, reply: str | None) -> tuple[str, str]:
    """Queue an isolated job's reply for its chat; (delivery status, error)."""
    job, turn = run.job, run.run
    wanted = job is not None and (job.delivery or {}).get("mode") == "announce"
    if not wanted or job is None or job.session_target == CronJob.SessionTarget.MAIN:
        return CronRun.DeliveryStatus.NOT_REQUESTED, ""
    to = turn.reply_to if turn is not None else {}
    if turn is None or not to.get("chatId"):
        return CronRun.DeliveryStatus.NOT_DELIVERED, run.delivery_error or "no chat to deliver to"
    if reply is None:
        return CronRun.DeliveryStatus.NOT_DELIVERED, "the turn failed: nothing to deliver"
    text = deliverable_text(reply)
    if not text:
        return CronRun.DeliveryStatus.NOT_DELIVERED, "the reply was empty or NO_REPLY"
    try:
        delivery.deliver(
            delivery.ChannelMessage(
                channel=str(to["channel"]),
                account_id=str(to.get("accountId") or "default"),
                chat_id=str(to["chatId"]),
                thread_id=str(to.get("threadId") or ""),
                text=text,
                dedupe_key=f"run:{turn.public_id}:reply",
                run_public_id=turn.public_id,
            )
        )
    except delivery.DeliveryError as exc:
        return CronRun.DeliveryStatus.NOT_DELIVERED, str(exc)
    return CronRun.DeliveryStatus.DELIVERED, ""


@transaction.atomic
def finish_run(
    run: CronRun,
    *,
    status: str,
    error: str = "",
    summary: str = "",
    reply: str | None = None,
    model: str = "",
    usage: dict[str, Any] | None = None,
    heartbeat: dict[str, Any] | None = None,
) -> int:
    """End a running cron run (CAS), deliver its reply, move its job on; 1 if it was ours.

    Publishes ``cron`` ``finished`` on commit (and ``removed`` for a one-shot job that
    deletes itself).
    """
    now = timezone.now()
    if not CronRun.objects.filter(pk=run.pk, status=CronRun.Status.RUNNING).update(
        status=status, finished_at=now
    ):
        return 0
    ok = status == CronRun.Status.OK
    delivery_status, delivery_error = _deliver(run, reply if ok else None)
    if heartbeat is not None and heartbeat.get("status") == "sent":
        delivery_status = CronRun.DeliveryStatus.DELIVERED  # queued by the turn's ending
    if heartbeat is not None and "ts" in heartbeat:  # OpenClaw emits no quiet-hours event
        heartbeat_publish(heartbeat)
    else:
        heartbeat = None
    run.status, run.finished_at, run.error = status, now, error[:4000]
    run.delivery_status, run.delivery_error = delivery_status, delivery_error[:2000]
    started = run.started_at or now
    next_run = _job_moves_on(run, ok=ok, started=started, now=now)
    CronRun.objects.filter(pk=run.pk).update(
        error=run.error,
        summary=summary,
        delivery_status=delivery_status,
        delivery_error=run.delivery_error,
        model=model or run.model,
        usage=dict(usage or {}),
        session_key=run.session_key,
        session_id=run.session_id,
        agent_slug=run.agent_slug,
        next_run_at=next_run,
        heartbeat=heartbeat,
    )
    announce(
        str(run.job_public_id),
        "finished",
        runAtMs=ms(started),
        durationMs=int((now - started).total_seconds() * 1000),
        status=status,
        error=error or None,
        summary=summary[:500] or None,
        delivered=delivery_status == CronRun.DeliveryStatus.DELIVERED,
        deliveryStatus=delivery_status,
        deliveryError=delivery_error or None,
        sessionId=run.session_id or None,
        sessionKey=run.session_key or None,
        nextRunAtMs=ms(next_run),
        model=(model or run.model) or None,
    )
    return 1


def _job_moves_on(run: CronRun, *, ok: bool, started: datetime, now: datetime) -> datetime | None:
    """Write the job's state after ``run``; return its next run (None if it has none).

    Only a scheduled run (or a manual one that took a due slot) spends a one-shot job
    or backs a failing job off; a manual run leaves the schedule as it was.
    """
    if run.job_id is None:
        return None
    job = CronJob.objects.select_for_update().filter(pk=run.job_id).first()
    if job is None:
        return None
    scheduled = run.trigger == CronRun.Trigger.SCHEDULE or job.next_run_at is None
    # A skip (a heartbeat in quiet hours, with nothing to do, or behind a busy session) is
    # not a failure: no back-off, the error count stays.
    failed = run.status == CronRun.Status.ERROR
    errors = job.consecutive_errors + 1 if failed else (0 if ok else job.consecutive_errors)
    fields: dict[str, Any] = {
        "running_at": None,
        "last_run_at": started,
        "last_status": run.status,
        "last_error": run.error if failed else "",
        "last_duration_ms": max(0, int((now - started).total_seconds() * 1000)),
        "last_delivery_status": run.delivery_status,
        "consecutive_errors": errors,
    }
    next_run = job.next_run_at
    if not job.enabled:
        next_run = None
    elif failed and scheduled:
        next_run = next_after_failure(job, errors=errors, now=now)
    elif ok and job.schedule_kind == CronJob.ScheduleKind.AT and scheduled:
        if job.delete_after_run:
            job.delete()
            announce(str(job.public_id), "removed")
            return None
        next_run = None
    elif next_run is not None and next_run <= now:
        next_run = scheduled_next(job, after=now)  # a slot passed while this run ran
    if job.enabled and next_run is None:
        fields["enabled"] = False  # a spent one-shot, or a job failing for good
    fields["next_run_at"] = next_run
    CronJob.objects.filter(pk=job.pk).update(**fields)
    return next_run
