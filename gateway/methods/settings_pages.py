"""Methods of the Control UI's automation, approvals, appearance and updates pages.

Shapes follow OpenClaw 2026.9.6 (``src/gateway/server-methods/{cron,exec-approval,themes,
update}.ts``), ``cron.runs`` aside (``gateway.methods.cron``). Their answers state what this
gateway does not have: standing exec grants (tools follow the agent's tool policy), themes
beyond the UI's built-in ones, and self-updates.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from gateway import scopes as gw_scopes
from gateway.catalog import themes as themes_wire
from gateway.methods.registry import CallContext, Params, WireParams, method


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
