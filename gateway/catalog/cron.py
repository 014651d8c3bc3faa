"""``cron.list`` and ``cron.status``: OpenClaw's CronJob shape (protocol §9)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.conf import settings
from django.db import connections

from agents import selectors as agent_selectors
from agents.models import CronJob, Run
from gateway import selectors as gateway_selectors
from gateway.catalog.wire import STORE_PATH, iso, ms

CRON_PAGE_DEFAULT = 50
CRON_PAGE_MAX = 200
_CRON_SORT = {"nextRunAtMs": "next_run_at", "updatedAtMs": "updated_at", "name": "name"}
_ENABLED = {"enabled": True, "disabled": False}


def _schedule(job: CronJob) -> dict[str, Any]:
    if job.schedule_kind == CronJob.ScheduleKind.AT:
        return {"kind": "at", "at": iso(job.at)}
    if job.schedule_kind == CronJob.ScheduleKind.EVERY:
        return {"kind": "every", "everyMs": job.every_ms}
    schedule: dict[str, Any] = {"kind": "cron", "expr": job.cron_expr}
    if job.tz:
        schedule["tz"] = job.tz
    if job.stagger_ms is not None:
        schedule["staggerMs"] = job.stagger_ms
    return schedule


def _cron_state(job: CronJob) -> dict[str, Any]:
    state = {
        "nextRunAtMs": ms(job.next_run_at),
        "runningAtMs": ms(job.running_at),
        "lastRunAtMs": ms(job.last_run_at),
        "lastRunStatus": job.last_status or None,
        "lastStatus": job.last_status or None,
        "lastError": job.last_error or None,
        "lastDurationMs": job.last_duration_ms,
    }
    compact = {k: v for k, v in state.items() if v is not None}
    compact["consecutiveErrors"] = job.consecutive_errors
    return compact


def cron_job(job: CronJob) -> dict[str, Any]:
    """Return OpenClaw's CronJob shape (protocol §9) of a row; ``agent`` must be loaded."""
    row: dict[str, Any] = {
        "id": str(job.public_id),
        "name": job.name,
        "enabled": job.enabled,
        "createdAtMs": ms(job.created_at),
        "updatedAtMs": ms(job.updated_at),
    }
    if job.agent is not None:
        row["agentId"] = job.agent.slug
    if job.session_key:
        row["sessionKey"] = job.session_key
    if job.description:
        row["description"] = job.description
    row["deleteAfterRun"] = job.delete_after_run
    row["schedule"] = _schedule(job)
    row["sessionTarget"] = job.session_target
    row["wakeMode"] = job.wake_mode
    row["payload"] = job.payload
    if job.delivery:
        row["delivery"] = job.delivery
    if job.failure_alert:
        row["failureAlert"] = job.failure_alert
    row["state"] = _cron_state(job)
    return row


def _cron_job_compact(job: CronJob, default_agent: str) -> dict[str, Any]:
    # The row the Control UI asks for with ``compact: true`` (captured frames).
    row: dict[str, Any] = {"id": str(job.public_id), "name": job.name}
    if job.agent is not None:
        row["agentId"] = job.agent.slug
    row.update(
        {
            "updatedAtMs": ms(job.updated_at),
            "enabled": job.enabled,
            "nextRunAt": iso(job.next_run_at),
            "nextRunAtMs": ms(job.next_run_at),
            "scheduleKind": job.schedule_kind,
            "schedule": _schedule(job),
            "lastRunAt": iso(job.last_run_at),
            "lastRunAtMs": ms(job.last_run_at),
            "lastRunStatus": job.last_status or None,
            "lastRunError": job.last_error or None,
            "effectiveAgentId": job.agent.slug if job.agent is not None else default_agent,
        }
    )
    return row


def cron_jobs_page(
    *,
    enabled: str = "enabled",
    agent_id: str | None = None,
    query: str | None = None,
    sort_by: str = "nextRunAtMs",
    sort_dir: str = "asc",
    offset: int = 0,
    limit: int = CRON_PAGE_DEFAULT,
    compact: bool = False,
) -> dict[str, Any]:
    """Return one page of ``cron.list``: ``{jobs, total, offset, limit, hasMore, nextOffset}``.

    ``enabled`` is ``all``, ``enabled`` or ``disabled``. A job without an agent belongs to
    the default agent, so ``agent_id`` of the default agent matches it too.
    """
    default_agent = agent_selectors.default_agent_slug()
    limit = max(1, min(limit, CRON_PAGE_MAX))
    offset = max(0, offset)
    page, total = agent_selectors.cron_jobs_page(
        enabled=_ENABLED.get(enabled),
        agent_slug=agent_id,
        default_agent=default_agent,
        query=query,
        order_field=_CRON_SORT.get(sort_by, "next_run_at"),
        descending=sort_dir == "desc",
        offset=offset,
        limit=limit,
    )
    has_more = offset + len(page) < total
    rows = [_cron_job_compact(job, default_agent) if compact else cron_job(job) for job in page]
    canonical = json.dumps(rows, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return {
        "jobs": rows,
        # Changes whenever a job on the page does, so a client can skip re-rendering.
        "snapshotRevision": "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
        "total": total,
        "offset": offset,
        "limit": limit,
        "hasMore": has_more,
        "nextOffset": offset + len(page) if has_more else None,
    }


def _sqlite_path() -> str | None:
    database = settings.DATABASES["default"]
    if connections["default"].vendor == "sqlite":
        return str(database["NAME"])
    return None  # never the URL of a server database: it may carry a password


def cron_status() -> dict[str, Any]:
    """Return ``cron.status``: job count and the next time a job is due."""
    jobs, next_wake = agent_selectors.cron_jobs_summary()
    return {
        "enabled": True,
        "triggersEnabled": True,
        "storePath": STORE_PATH,
        "storage": STORE_PATH,
        "sqlitePath": _sqlite_path(),
        "jobs": jobs,
        "nextWakeAtMs": ms(next_wake),
    }


# --- cron.runs ------------------------------------------------------------------------------
_RUN_STATUS = {"succeeded": "ok", "failed": "error", "aborted": "error"}


class CronRunsError(ValueError):
    """Bad ``cron.runs`` params or an unknown job (OpenClaw's INVALID_REQUEST messages)."""


def cron_run_job_id(session_key: str) -> str | None:
    """The job of a cron run's session key ``agent:<agent>:cron:<job>[:...]``, or None."""
    parts = session_key.split(":")
    if len(parts) >= 4 and parts[0] == "agent" and parts[2] == "cron" and parts[3]:
        return parts[3]
    return None


def _run_entry(run: Run, job_id: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "ts": ms(run.finished_at or run.updated_at),
        "jobId": job_id,
        "action": "finished",
        "status": _RUN_STATUS[run.status],
    }
    if run.error_message:
        entry["error"] = run.error_message
    entry.update(sessionId=str(run.session.session_id), sessionKey=run.session.key)
    entry["runId"] = run.run_id
    if run.started_at is not None:
        entry["runAtMs"] = ms(run.started_at)
        if run.finished_at is not None:
            elapsed = run.finished_at - run.started_at
            entry["durationMs"] = max(0, int(elapsed.total_seconds() * 1000))
    if run.model:
        entry["model"] = run.model
    return entry


def cron_runs_page(
    *,
    job_id: str | None,
    scope: str | None,
    agent_id: str | None = None,
    run_id: str | None = None,
    statuses: list[str] | None = None,
    query: str = "",
    sort_dir: str = "desc",
    offset: int = 0,
    limit: int = CRON_PAGE_DEFAULT,
) -> dict[str, Any]:
    """Return ``cron.runs``: finished runs of one job (or of all), OpenClaw's page shape.

    A run belongs to a job by its session key (``agent:<agent>:cron:<job>``); queued,
    running and merged runs are not history yet. Raises CronRunsError for a job scope
    without an id, or for a job that neither exists nor left runs.
    """
    scope = scope or ("job" if job_id else "all")
    if scope == "job" and not job_id:
        raise CronRunsError("invalid cron.runs params: missing id")
    names = gateway_selectors.cron_job_names()
    rows = []
    for run in gateway_selectors.cron_runs_finished():
        run_job = cron_run_job_id(run.session.key)
        if run_job is None or (scope == "job" and run_job != job_id):
            continue
        if agent_id and run.agent.slug != agent_id.strip().lower():
            continue
        entry = _run_entry(run, run_job)
        if names.get(run_job):
            entry["jobName"] = names[run_job]
        if run_id and entry["runId"] != run_id:
            continue
        if statuses and entry["status"] not in statuses:
            continue
        text = " ".join(str(entry.get(k, "")) for k in ("jobName", "jobId", "error", "model"))
        if query.strip() and query.strip().lower() not in text.lower():
            continue
        rows.append(entry)
    if scope == "job" and job_id not in names and not rows:
        raise CronRunsError(
            f"Automation not found: {job_id}. List automations and retry with a current job id."
        )
    rows.sort(key=lambda e: (e["ts"], e["runId"]), reverse=sort_dir != "asc")
    total = len(rows)
    start = min(total, max(0, offset))
    page = rows[start : start + limit]
    next_offset = start + len(page)
    return {
        "entries": page,
        "total": total,
        "offset": start,
        "limit": limit,
        "hasMore": next_offset < total,
        "nextOffset": next_offset if next_offset < total else None,
    }
