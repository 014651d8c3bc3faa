"""Read use-cases of cron jobs and their runs, in OpenClaw's shapes (reference spec §9).

``cron_job_openclaw`` is a job as ``cron.add``/``cron.list`` answer it and as OpenClaw's
``jobs.json`` holds it; ``cron_run_entry`` a run as ``cron.runs`` lists it
(``CronRunLogEntry``). The gateway's wire module and the ``cron`` tool use both.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, NamedTuple

from django.db.models import Q

from agents.lib import cron_schedule
from agents.lib.cron_spec import JobSpec, spec_openclaw
from agents.models import CronJob, CronRun

RUN_PAGE_MAX = 200
FINISHED = (CronRun.Status.OK, CronRun.Status.ERROR, CronRun.Status.SKIPPED)


def _ms(value: datetime | None) -> int | None:
    return int(value.timestamp() * 1000) if value is not None else None


def parse_job_id(job_id: str) -> uuid.UUID | None:
    """The public id in ``job_id`` (a UUID), or None for anything else."""
    try:
        return uuid.UUID(str(job_id).strip())
    except ValueError:
        return None


def cron_job_find(*, job_id: str) -> CronJob | None:
    """The job with this public id (agent loaded), or None."""
    public_id = parse_job_id(job_id)
    if public_id is None:
        return None
    return CronJob.objects.select_related("agent").filter(public_id=public_id).first()


def job_spec(job: CronJob) -> JobSpec:
    """The job's configuration (``agent`` must be loaded)."""
    return JobSpec(
        name=job.name,
        schedule=job.schedule,
        session_target=job.session_target,
        target_session_key=job.target_session_key,
        payload=dict(job.payload or {}),
        wake_mode=job.wake_mode,
        delivery=dict(job.delivery or {}),
        failure_alert=dict(job.failure_alert or {}),
        agent_id=job.agent.slug if job.agent is not None else None,
        session_key=job.session_key,
        description=job.description,
        enabled=job.enabled,
        delete_after_run=job.delete_after_run,
    )


def cron_job_state(job: CronJob) -> dict[str, Any]:
    """OpenClaw's ``state`` of a job."""
    state: dict[str, Any] = {
        "nextRunAtMs": _ms(job.next_run_at),
        "runningAtMs": _ms(job.running_at),
        "lastRunAtMs": _ms(job.last_run_at),
        "lastRunStatus": job.last_status or None,
        "lastStatus": job.last_status or None,
        "lastError": job.last_error or None,
        "lastDurationMs": job.last_duration_ms,
        "lastDeliveryStatus": job.last_delivery_status or None,
    }
    compact = {k: v for k, v in state.items() if v is not None}
    compact["consecutiveErrors"] = job.consecutive_errors
    return compact


def cron_job_openclaw(job: CronJob) -> dict[str, Any]:
    """OpenClaw's CronJob shape of a row (``agent`` must be loaded)."""
    row: dict[str, Any] = {"id": str(job.public_id)}
    row.update(spec_openclaw(job_spec(job)))
    row["createdAtMs"] = _ms(job.created_at)
    row["updatedAtMs"] = _ms(job.updated_at)
    if job.declaration_key:  # a system-owned job: an agent's heartbeat, made by the config
        row["declarationKey"] = job.declaration_key
        row["displayName"] = job.description
        row.pop("description", None)
    row["state"] = cron_job_state(job)
    return row


def cron_run_entry(run: CronRun) -> dict[str, Any]:
    """One ``CronRunLogEntry`` (``action: finished``) of a run."""
    ts = run.finished_at or run.updated_at
    entry: dict[str, Any] = {
        "ts": _ms(ts),
        "jobId": str(run.job_public_id),
        "action": "finished",
        "status": run.status,
        "runId": str(run.public_id),
        "jobName": run.job_name,
        "runAtMs": _ms(run.started_at or run.scheduled_for),
        "deliveryStatus": run.delivery_status,
        "delivered": run.delivery_status == CronRun.DeliveryStatus.DELIVERED,
    }
    if run.started_at is not None and run.finished_at is not None:
        elapsed = run.finished_at - run.started_at
        entry["durationMs"] = max(0, int(elapsed.total_seconds() * 1000))
    optional = {
        "error": run.error,
        "summary": run.summary,
        "deliveryError": run.delivery_error,
        "sessionId": run.session_id,
        "sessionKey": run.session_key,
        "model": run.model,
        "nextRunAtMs": _ms(run.next_run_at),
        "usage": run.usage or None,
        "agentRunId": run.run.run_id if run.run is not None else None,
        "provider": run.model.split("/", 1)[0] if "/" in run.model else None,
    }
    entry.update({k: v for k, v in optional.items() if v})
    return entry


class RunsPage(NamedTuple):
    runs: list[CronRun]
    total: int


def cron_runs_page(
    *,
    job_public_id: uuid.UUID | None,
    agent_slug: str | None = None,
    run_public_id: uuid.UUID | None = None,
    statuses: list[str] | None = None,
    delivery_statuses: list[str] | None = None,
    query: str = "",
    newest_first: bool = True,
    offset: int = 0,
    limit: int = 50,
) -> RunsPage:
    """Finished runs of one job (or of every job), a page and the total matching."""
    runs = CronRun.objects.filter(status__in=statuses or FINISHED).select_related("run")
    if job_public_id is not None:
        runs = runs.filter(job_public_id=job_public_id)
    if agent_slug:
        runs = runs.filter(agent_slug=agent_slug.strip().lower())
    if run_public_id is not None:
        runs = runs.filter(public_id=run_public_id)
    if delivery_statuses:
        runs = runs.filter(delivery_status__in=delivery_statuses)
    text = query.strip()
    if text:
        runs = runs.filter(
            Q(job_name__icontains=text)
            | Q(error__icontains=text)
            | Q(summary__icontains=text)
            | Q(model__icontains=text)
        )
    order = ("-created_at", "-pk") if newest_first else ("created_at", "pk")
    total = runs.count()
    limit = max(1, min(limit, RUN_PAGE_MAX))
    return RunsPage(list(runs.order_by(*order)[offset : offset + limit]), total)


def cron_job_known(*, job_public_id: uuid.UUID) -> bool:
    """Whether a job with this id exists or left runs (one or two indexed lookups)."""
    return (
        CronJob.objects.filter(public_id=job_public_id).exists()
        or CronRun.objects.filter(job_public_id=job_public_id).exists()
    )


def cron_next_runs(job: CronJob, *, after: datetime, count: int = 5) -> list[datetime]:
    """The job's next ``count`` run times after ``after`` (the admin and command show them)."""
    out: list[datetime] = []
    cursor = after
    for _ in range(count):
        nxt = cron_schedule.next_run(job.schedule, after=cursor, job_id=str(job.public_id))
        if nxt is None:
            break
        out.append(nxt)
        cursor = nxt
    return out


def cron_tools_allow(*, session_key: str) -> list[str] | None:
    """The ``toolsAllow`` of the isolated cron job whose session this is, else None.

    Only keys shaped ``agent:<agent>:cron:<job id>`` cost a query.
    """
    parts = session_key.split(":")
    if len(parts) != 4 or parts[0] != "agent" or parts[2] != "cron":
        return None
    public_id = parse_job_id(parts[3])
    if public_id is None:
        return None
    payload = CronJob.objects.filter(public_id=public_id).values_list("payload", flat=True).first()
    tools = payload.get("toolsAllow") if isinstance(payload, dict) else None
    return [str(t) for t in tools] if isinstance(tools, list) else None
