"""``cron.*`` methods: OpenClaw's automations (reference spec §9, 2026.9.6 shapes).

``cron.list``, ``cron.status``, ``cron.get`` and ``cron.runs`` read; ``cron.add``,
``cron.update``, ``cron.remove`` and ``cron.run`` (admin) call ``agents.services.cron``
once each. ``cron.run`` only claims the job and enqueues its start (a worker runs the
turn), so every handler here is one short database call.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from agents import cron_selectors
from agents.services import cron as cron_service
from gateway import scopes as gw_scopes
from gateway.catalog import cron as cron_wire
from gateway.methods.registry import CallContext, MethodError, Params, WireParams, method

# OpenClaw's CronRunLogJobIdSchema: a non-empty id without path separators.
JOB_ID_PATTERN = r"^[^/\\]+$"


class CronListParams(WireParams):
    include_disabled: bool | None = None
    enabled: Literal["all", "enabled", "disabled"] | None = None
    limit: int = Field(default=cron_wire.CRON_PAGE_DEFAULT, ge=1, le=cron_wire.CRON_PAGE_MAX)
    offset: int = Field(default=0, ge=0)
    query: str | None = None
    sort_by: Literal["nextRunAtMs", "updatedAtMs", "name"] = "nextRunAtMs"
    sort_dir: Literal["asc", "desc"] = "asc"
    agent_id: str | None = None
    compact: bool = False


@method("cron.list", params=CronListParams)
def cron_list(ctx: CallContext, params: CronListParams) -> dict[str, Any]:
    enabled = params.enabled or ("all" if params.include_disabled else "enabled")
    return cron_wire.cron_jobs_page(
        enabled=enabled,
        agent_id=params.agent_id,
        query=params.query,
        sort_by=params.sort_by,
        sort_dir=params.sort_dir,
        offset=params.offset,
        limit=params.limit,
        compact=params.compact,
    )


@method("cron.status")
def cron_status(ctx: CallContext, params: Params) -> dict[str, Any]:
    return cron_wire.cron_status()


class JobIdParams(WireParams):
    id: str | None = Field(default=None, min_length=1, max_length=200)
    job_id: str | None = Field(default=None, min_length=1, max_length=200)

    def the_id(self, method_name: str) -> str:
        job_id = self.id or self.job_id
        if not job_id:
            raise MethodError(f"invalid {method_name} params: missing id (or jobId)")
        return job_id


@method("cron.get", params=JobIdParams, scope=gw_scopes.READ)
def cron_get(ctx: CallContext, params: JobIdParams) -> dict[str, Any]:
    """One job in OpenClaw's shape (``openclaw cron get|show|run|edit`` look jobs up)."""
    job_id = params.the_id("cron.get")
    job = cron_selectors.cron_job_find(job_id=job_id)
    if job is None:
        raise MethodError(f"cron job not found: {job_id}")
    return cron_wire.cron_job(job)


@method("cron.add", params=Params)
def cron_add(ctx: CallContext, params: Params) -> dict[str, Any]:
    """Create a job from OpenClaw's job JSON; answers the job."""
    try:
        job = cron_service.cron_add(job=params.model_dump())
    except cron_service.CronError as exc:
        raise MethodError(f"invalid cron.add params: {exc.message}") from None
    return cron_wire.cron_job(job)


class CronUpdateParams(JobIdParams):
    patch: dict[str, Any]


@method("cron.update", params=CronUpdateParams)
def cron_update(ctx: CallContext, params: CronUpdateParams) -> dict[str, Any]:
    """Patch a job (OpenClaw's job fields); answers the job."""
    job_id = params.the_id("cron.update")
    try:
        job = cron_service.cron_update(job_id=job_id, patch=params.patch)
    except cron_service.CronError as exc:
        raise MethodError(f"invalid cron.update params: {exc.message}") from None
    return cron_wire.cron_job(job)


@method("cron.remove", params=JobIdParams)
def cron_remove(ctx: CallContext, params: JobIdParams) -> dict[str, Any]:
    try:
        removed = cron_service.cron_remove(job_id=params.the_id("cron.remove"))
    except cron_service.CronError as exc:  # an agent's heartbeat: its config removes it
        raise MethodError(exc.message) from None
    return {"ok": True, "removed": removed}


class CronRunParams(JobIdParams):
    mode: Literal["due", "force"] = "force"


@method("cron.run", params=CronRunParams)
def cron_run(ctx: CallContext, params: CronRunParams) -> dict[str, Any]:
    """Run a job now: ``{ok, ran, enqueued, runId}`` or ``{ok, ran: false, reason}``."""
    try:
        outcome = cron_service.cron_run_now(job_id=params.the_id("cron.run"), mode=params.mode)
    except cron_service.CronError as exc:
        raise MethodError(exc.message) from None
    if not outcome.ran:
        return {"ok": True, "ran": False, "reason": outcome.reason}
    return {"ok": True, "ran": True, "enqueued": True, "runId": outcome.run_id}


class CronRunsParams(WireParams):
    agent_id: str | None = Field(default=None, min_length=1, max_length=64)
    scope: Literal["job", "all"] | None = None
    id: str | None = Field(default=None, min_length=1, max_length=200, pattern=JOB_ID_PATTERN)
    job_id: str | None = Field(default=None, min_length=1, max_length=200, pattern=JOB_ID_PATTERN)
    run_id: str | None = Field(default=None, min_length=1, max_length=200)
    limit: int = Field(default=cron_wire.CRON_PAGE_DEFAULT, ge=1, le=cron_wire.CRON_PAGE_MAX)
    offset: int = Field(default=0, ge=0)
    statuses: list[Literal["ok", "error", "skipped"]] | None = Field(
        default=None, min_length=1, max_length=3
    )
    status: Literal["all", "ok", "error", "skipped"] | None = None
    delivery_statuses: (
        list[Literal["delivered", "not-delivered", "unknown", "not-requested"]] | None
    ) = Field(default=None, min_length=1, max_length=4)
    delivery_status: Literal["delivered", "not-delivered", "unknown", "not-requested"] | None = None
    query: str | None = Field(default=None, max_length=500)
    sort_dir: Literal["asc", "desc"] = "desc"


@method("cron.runs", params=CronRunsParams)
def cron_runs(ctx: CallContext, params: CronRunsParams) -> dict[str, Any]:
    """Finished runs of one cron job (``id``/``jobId``) or of every job (``scope: all``)."""
    statuses: list[str] | None = list(params.statuses) if params.statuses else None
    if statuses is None and params.status not in (None, "all"):
        statuses = [str(params.status)]
    deliveries: list[str] | None = (
        list(params.delivery_statuses) if params.delivery_statuses else None
    )
    if deliveries is None and params.delivery_status is not None:
        deliveries = [params.delivery_status]
    try:
        return cron_wire.cron_runs_page(
            job_id=params.id or params.job_id,
            scope=params.scope,
            agent_id=params.agent_id,
            run_id=params.run_id,
            statuses=statuses,
            delivery_statuses=deliveries,
            query=params.query or "",
            sort_dir=params.sort_dir,
            offset=params.offset,
            limit=params.limit,
        )
    except cron_wire.CronRunsError as exc:
        raise MethodError(str(exc)) from None
