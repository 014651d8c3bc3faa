"""Methods of the Control UI's automation, approvals, appearance and updates pages.

Shapes follow OpenClaw 2026.9.6 (``src/gateway/server-methods/{cron,exec-approval,themes,
update}.ts``). ``cron.runs`` answers from the runs table; the others state what this
gateway does not have: standing exec grants (tools follow the agent's tool policy), themes
beyond the UI's built-in ones, and self-updates.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from gateway import scopes as gw_scopes
from gateway.catalog import cron as cron_wire
from gateway.catalog import themes as themes_wire
from gateway.methods.registry import CallContext, MethodError, Params, WireParams, method

# OpenClaw's CronRunLogJobIdSchema: a non-empty id without path separators.
JOB_ID_PATTERN = r"^[^/\\]+$"


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
    query: str | None = Field(default=None, max_length=500)
    sort_dir: Literal["asc", "desc"] = "desc"


@method("cron.runs", params=CronRunsParams)
def cron_runs(ctx: CallContext, params: CronRunsParams) -> dict[str, Any]:
    """Finished runs of one cron job (``id``/``jobId``) or of every job (``scope: all``)."""
    statuses = params.statuses
    if statuses is None and params.status not in (None, "all"):
        statuses = [params.status]  # type: ignore[list-item]
    try:
        return cron_wire.cron_runs_page(
            job_id=params.id or params.job_id,
            scope=params.scope,
            agent_id=params.agent_id,
            run_id=params.run_id,
            statuses=list(statuses) if statuses else None,
            query=params.query or "",
            sort_dir=params.sort_dir,
            offset=params.offset,
            limit=params.limit,
        )
    except cron_wire.CronRunsError as exc:
        raise MethodError(str(exc)) from None


class ExecApprovalGrantsListParams(WireParams):
    limit: int | None = Field(default=None, ge=1, le=500)


@method(
    "exec.approval.grants.list",
    params=ExecApprovalGrantsListParams,
    scope=gw_scopes.APPROVALS,
    advertised=False,
)
async def exec_approval_grants_list(
    ctx: CallContext, params: ExecApprovalGrantsListParams
) -> dict[str, Any]:
    # No operator approves exec here (tools follow the agent's tool policy), so no
    # approval ever minted a standing grant.
    return {"grants": []}


@method("themes.list", scope=gw_scopes.READ, advertised=False)
async def themes_list(ctx: CallContext, params: Params) -> dict[str, Any]:
    return themes_wire.themes_list()


class UpdateStatusParams(WireParams):
    refresh_checkout: bool | None = None


# Advertised: the updates page asks only when hello-ok lists it, and says "Update status
# unavailable" otherwise.
@method("update.status", params=UpdateStatusParams, scope=gw_scopes.ADMIN)
async def update_status(ctx: CallContext, params: UpdateStatusParams) -> dict[str, Any]:
    return themes_wire.update_status()
