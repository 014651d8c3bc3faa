"""``cron.list`` and ``cron.status``: OpenClaw's CronJob shape (protocol §9)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.conf import settings

from agents import selectors as agent_selectors
from agents.models import CronJob
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
    if database["ENGINE"] == "django.db.backends.sqlite3":
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
