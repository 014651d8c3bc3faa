"""The ``cron.*`` payloads: OpenClaw's CronJob and CronRunLogEntry shapes (protocol §9).

The shapes themselves are built by ``agents.cron_selectors`` (the ``cron`` tool and the
command use them too); this module pages, filters and adds what only the gateway knows.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.conf import settings
from django.db import connections

from agents import cron_selectors
from agents import selectors as agent_selectors
from agents.lib.cron_spec import schedule_openclaw
from agents.models import CronJob
from gateway.catalog.wire import STORE_PATH, iso, ms

CRON_PAGE_DEFAULT = 50
CRON_PAGE_MAX = 200
_CRON_SORT = {"nextRunAtMs": "next_run_at", "updatedAtMs": "updated_at", "name": "name"}
_ENABLED = {"enabled": True, "disabled": False}


def _schedule(job: CronJob) -> dict[str, Any]:
    return schedule_openclaw(job.schedule)


def cron_job(job: CronJob) -> dict[str, Any]:
    """Return OpenClaw's CronJob shape (protocol §9) of a row; ``agent`` must be loaded."""
    return cron_selectors.cron_job_openclaw(job)


def _cron_job_compact(job: CronJob, default_agent: str) -> dict[str, Any]:
    # The row the Control UI asks for with ``compact: true`` (captured frames).
    row: dict[str, Any] = {"id": str(job.public_id), "name": job.name}
    if job.agent is not None:
        row["agentId"] = job.agent.slug
    row["updatedAtMs"] = ms(job.updated_at)
    if job.declaration_key:  # a system-owned job: an agent's heartbeat
        row["declarationKey"] = job.declaration_key
        row["displayName"] = job.description
    row.update(
        {
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
        "enabled": bool(settings.CRON_ENABLED),
        "triggersEnabled": bool(settings.CRON_ENABLED),
        "storePath": STORE_PATH,
        "storage": STORE_PATH,
        "sqlitePath": _sqlite_path(),
        "jobs": jobs,
        "nextWakeAtMs": ms(next_wake),
    }


# --- cron.runs ------------------------------------------------------------------------------
class CronRunsError(ValueError):
    """Bad ``cron.runs`` params or an unknown job (OpenClaw's INVALID_REQUEST messages)."""


def cron_runs_page(
    *,
    job_id: str | None,
    scope: str | None,
    agent_id: str | None = None,
    run_id: str | None = None,
    statuses: list[str] | None = None,
    delivery_statuses: list[str] | None = None,
    query: str = "",
    sort_dir: str = "desc",
    offset: int = 0,
    limit: int = CRON_PAGE_DEFAULT,
) -> dict[str, Any]:
    """Return ``cron.runs``: finished runs of one job (or of all), OpenClaw's page shape.

    Raises CronRunsError for a job scope without an id, or for a job that neither exists
    nor left runs.
    """
    scope = scope or ("job" if job_id else "all")
    if scope == "job" and not job_id:
        raise CronRunsError("invalid cron.runs params: missing id")
    job_public_id = None
    if scope == "job":
        job_public_id = cron_selectors.parse_job_id(job_id or "")
        if job_public_id is None or not cron_selectors.cron_job_known(job_public_id=job_public_id):
            raise CronRunsError(
                f"Automation not found: {job_id}. List automations and retry with a current job id."
            )
    run_public_id = None
    if run_id:
        run_public_id = cron_selectors.parse_job_id(run_id)
        if run_public_id is None:
            return _runs_page([], 0, offset, limit)
    offset = max(0, offset)
    page = cron_selectors.cron_runs_page(
        job_public_id=job_public_id,
        agent_slug=agent_id,
        run_public_id=run_public_id,
        statuses=statuses,
        delivery_statuses=delivery_statuses,
        query=query,
        newest_first=sort_dir != "asc",
        offset=offset,
        limit=limit,
    )
    entries = [cron_selectors.cron_run_entry(run) for run in page.runs]
    return _runs_page(entries, page.total, offset, limit)


def _runs_page(
    entries: list[dict[str, Any]], total: int, offset: int, limit: int
) -> dict[str, Any]:
    start = min(total, offset)
    next_offset = start + len(entries)
    return {
        "entries": entries,
        "total": total,
        "offset": start,
        "limit": limit,
        "hasMore": next_offset < total,
        "nextOffset": next_offset if next_offset < total else None,
    }
