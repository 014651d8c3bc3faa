"""The ``cron`` tool (group:automation): the agent schedules its own jobs (OpenClaw's tool).

Actions: ``status``, ``list``, ``add``, ``update``, ``remove``, ``run``, ``runs``, each
one call of ``agents.services.cron`` or ``agents.cron_selectors``, the calls the
``cron.*`` RPCs make. A job added here belongs to the calling agent and remembers the
calling session (``sessionKey``), so ``delivery.channel: "last"`` answers in that chat.
The sandbox's default policy denies this tool (a stranger's session never schedules).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field

from agents import cron_selectors
from agents.models import CronJob
from agents.services import cron as cron_service
from agents.tools.base import Tool, ToolArgs, ToolContext, ToolError, ToolOutput
from agents.tools.base import register as register_tool

LIST_MAX = 50


class CronArgs(ToolArgs):
    action: Literal["status", "list", "add", "update", "remove", "run", "runs"] = Field(
        description="What to do."
    )
    job: dict[str, Any] | None = Field(
        default=None,
        description=(
            "add: the job, OpenClaw's shape: {name, schedule: {kind: 'at', at: ISO time or "
            "'20m'} | {kind: 'every', everyMs} | {kind: 'cron', expr, tz?}, payload: {kind: "
            "'agentTurn', message} (sessionTarget 'isolated', the default) or {kind: "
            "'systemEvent', text} (sessionTarget 'main'), delivery?: {mode: 'announce', "
            "channel?, to?}}."
        ),
    )
    job_id: str | None = Field(default=None, description="update/remove/run/runs: the job id.")
    patch: dict[str, Any] | None = Field(
        default=None, description="update: the fields to change, in the job's shape."
    )
    include_disabled: bool = Field(default=False, description="list: disabled jobs too.")


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _job_id(args: CronArgs) -> str:
    if not args.job_id:
        raise ToolError(f"action {args.action!r} needs job_id (from action 'list')")
    return args.job_id


def _shape(job: CronJob) -> dict[str, Any]:
    row = CronJob.objects.select_related("agent").get(pk=job.pk)
    return cron_selectors.cron_job_openclaw(row)


def _list(ctx: ToolContext, args: CronArgs) -> ToolOutput:
    jobs = CronJob.objects.select_related("agent").order_by("next_run_at", "name")
    if not args.include_disabled:
        jobs = jobs.filter(enabled=True)
    rows = [cron_selectors.cron_job_openclaw(job) for job in jobs[:LIST_MAX]]
    if args.action == "status":
        return ToolOutput(_dump({"jobs": len(rows), "next": rows[0] if rows else None}))
    return ToolOutput(_dump({"jobs": rows}), meta={"count": len(rows)})


def _add(ctx: ToolContext, args: CronArgs) -> ToolOutput:
    if not args.job:
        raise ToolError("action 'add' needs job (its name, schedule and payload)")
    spec = {"agentId": ctx.agent_slug, "sessionKey": ctx.session_key, **args.job}
    created = cron_service.cron_add(job=spec)
    return ToolOutput(_dump(_shape(created)), meta={"jobId": str(created.public_id)})


def _update(ctx: ToolContext, args: CronArgs) -> ToolOutput:
    if not args.patch:
        raise ToolError("action 'update' needs patch (the fields to change)")
    updated = cron_service.cron_update(job_id=_job_id(args), patch=args.patch)
    return ToolOutput(_dump(_shape(updated)), meta={"jobId": str(updated.public_id)})


def _remove(ctx: ToolContext, args: CronArgs) -> ToolOutput:
    removed = cron_service.cron_remove(job_id=_job_id(args))
    return ToolOutput(_dump({"ok": True, "removed": removed}))


def _run(ctx: ToolContext, args: CronArgs) -> ToolOutput:
    outcome = cron_service.cron_run_now(job_id=_job_id(args))
    answer = {"ok": True, "ran": outcome.ran, "runId": outcome.run_id, "reason": outcome.reason}
    return ToolOutput(_dump({k: v for k, v in answer.items() if v is not None}))


def _runs(ctx: ToolContext, args: CronArgs) -> ToolOutput:
    public_id = cron_selectors.parse_job_id(_job_id(args))
    if public_id is None:
        raise ToolError(f"cron job not found: {args.job_id}")
    page = cron_selectors.cron_runs_page(job_public_id=public_id, limit=20)
    entries = [cron_selectors.cron_run_entry(run) for run in page.runs]
    return ToolOutput(_dump({"entries": entries, "total": page.total}))


_ACTIONS = {
    "status": _list,
    "list": _list,
    "add": _add,
    "update": _update,
    "remove": _remove,
    "run": _run,
    "runs": _runs,
}


def cron_run(ctx: ToolContext, args: CronArgs) -> ToolOutput:
    try:
        return _ACTIONS[args.action](ctx, args)
    except cron_service.CronError as exc:
        raise ToolError(exc.message) from None


register_tool(
    Tool(
        name="cron",
        description=(
            "Schedule work: list, add, update, remove or run cron jobs and read their runs. "
            "A job runs an agent turn in its own session (and can send the reply to a chat) "
            "or injects a system event into the main session, once ('at'), at an interval "
            "('every') or on a cron expression."
        ),
        group="automation",
        args_model=CronArgs,
        run=cron_run,
    )
)
