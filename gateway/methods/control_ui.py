"""Methods the pages of OpenClaw's Control UI call: new conversations, usage, the
configuration's schema, approvals, pairing, diagnostics, and the empty lists of
features this gateway does not have.

Shapes follow OpenClaw 2026.9.6 (its gateway handlers and the Control UI's mock
gateway). Where this gateway keeps the data (sessions and their token counts, channel
pairing requests, devices, logs) the answer is real; where a feature does not exist
here (plugins, artifacts, cloud environments, exec approvals) the answer is
OpenClaw's empty form, which the UI shows as "nothing here".
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any, Literal

from django.utils import timezone
from pydantic import Field

from agents.runtime.model_config import display_model_ref as default_model_ref
from agents.services.runs import run_start
from core.clock import now_ms
from gateway import scopes as gw_scopes
from gateway.catalog import agents as agent_wire
from gateway.catalog import schema as schema_wire
from gateway.catalog import usage as usage_wire
from gateway.catalog.wire import STORE_PATH
from gateway.methods.chat import refuse_attachments
from gateway.methods.registry import CallContext, MethodError, Params, WireParams, method
from gateway.methods.sessions import canonical_key, domain_errors
from gateway.selectors import run_counts_by_agent
from pairing.services import (
    PairingError,
    pairing_request_entry,
    pairing_requests_pending,
)
from pairing.services.common import MAX_PENDING_PER_ACCOUNT, PAIRING_REQUEST_TTL
from sessions_app import wire as session_wire
from sessions_app.lib.keys import parse_agent_id
from sessions_app.services import session_create


# --- sessions.create -------------------------------------------------------------------
class SessionsCreateParams(WireParams):
    key: str | None = Field(default=None, max_length=512)
    agent_id: str | None = Field(default=None, max_length=64)
    label: str | None = Field(default=None, max_length=200)
    model: str | None = Field(default=None, max_length=200)
    parent_session_key: str | None = Field(default=None, max_length=512)
    emit_command_hooks: bool | None = None
    message: str | None = None
    task: str | None = None
    attachments: list[Any] | None = None


def _create_key(params: SessionsCreateParams, agent_id: str) -> str:
    if not params.key:
        # OpenClaw's buildDashboardSessionKey: a fresh conversation of the agent.
        return f"agent:{agent_id}:dashboard:{uuid.uuid4()}"
    key = canonical_key(params.key if ":" in params.key else f"agent:{agent_id}:{params.key}")
    key_agent = parse_agent_id(key)
    if params.agent_id and key_agent and key_agent != agent_id:
        raise MethodError(
            f"sessions.create key agent ({key_agent}) does not match agentId ({agent_id})"
        )
    return key


@method("sessions.create", params=SessionsCreateParams, advertised=False)
def sessions_create(ctx: CallContext, params: SessionsCreateParams) -> dict[str, Any]:
    """Create a conversation (``/new`` and "New conversation"); with ``message`` (or
    ``task``) also start its first turn, as ``chat.send`` would."""
    refuse_attachments(params.attachments)
    identity = agent_wire.agent_identity(
        agent_id=params.agent_id.strip().lower() if params.agent_id else None
    )
    if identity is None:
        raise MethodError(f"unknown agent id: {params.agent_id}; list agents with agents.list")
    agent_id = str(identity["agentId"])
    key = _create_key(params, agent_id)
    parent = canonical_key(params.parent_session_key) if params.parent_session_key else None
    with domain_errors():
        session, _created = session_create(
            key=key, label=params.label, model=params.model, parent_key=parent
        )
    payload: dict[str, Any] = {
        "ok": True,
        "key": session.key,
        "sessionId": str(session.session_id),
        "entry": session_wire.session_row(session, default_model=default_model_ref()),
        "runStarted": False,
    }
    message = (params.message or params.task or "").strip()
    if message:
        with domain_errors():
            start = run_start(
                session_key=session.key, message=message, idempotency_key=str(uuid.uuid4())
            )
        if ctx.connection is not None:
            ctx.connection.join_tool_events(session.key)
        payload.update(runStarted=True, runId=start.run.run_id, status="started")
    return payload


# --- usage ----------------------------------------------------------------------------
class SessionsUsageParams(WireParams):
    start_date: date | None = None
    end_date: date | None = None
    key: str | None = Field(default=None, max_length=512)
    limit: int = Field(default=1000, ge=1, le=1000)


@method("sessions.usage", params=SessionsUsageParams, advertised=False)
def sessions_usage(ctx: CallContext, params: SessionsUsageParams) -> dict[str, Any]:
    start, end = usage_wire.date_range(
        params.start_date, params.end_date, today=timezone.now().date()
    )
    if start > end:
        raise MethodError(f"startDate {start} is after endDate {end}")
    return usage_wire.sessions_usage(
        start=start,
        end=end,
        limit=params.limit,
        key=canonical_key(params.key) if params.key else None,
        default_model=default_model_ref(),
    )


@method("usage.status")
async def usage_status(ctx: CallContext, params: Params) -> dict[str, Any]:
    return usage_wire.usage_status()


# --- configuration schema ---------------------------------------------------------------
@method("config.schema")
async def config_schema(ctx: CallContext, params: Params) -> dict[str, Any]:
    return schema_wire.config_schema()


class ConfigSchemaLookupParams(WireParams):
    path: str = Field(default="", max_length=500)


@method("config.schema.lookup", params=ConfigSchemaLookupParams, scope=gw_scopes.READ)
async def config_schema_lookup(
    ctx: CallContext, params: ConfigSchemaLookupParams
) -> dict[str, Any]:
    try:
        return schema_wire.config_schema_lookup(params.path.strip())
    except schema_wire.SchemaPathError as exc:
        raise MethodError(str(exc)) from None


# --- approvals and pairing ------------------------------------------------------------
class ApprovalHistoryParams(WireParams):
    cursor: str | None = Field(default=None, max_length=200)
    limit: int = Field(default=50, ge=1, le=200)
    kind: Literal["exec", "plugin"] | None = None


@method(
    "approval.history", params=ApprovalHistoryParams, scope=gw_scopes.APPROVALS, advertised=False
)
async def approval_history(ctx: CallContext, params: ApprovalHistoryParams) -> dict[str, Any]:
    # Tools run under the agent's tool and sandbox policy; nothing asks an operator, so
    # there is no decided approval to list.
    if params.cursor:
        raise MethodError("invalid approval.history cursor")
    return {"items": []}


@method("exec.approvals.get", advertised=False)
async def exec_approvals_get(ctx: CallContext, params: Params) -> dict[str, Any]:
    """No exec approvals file: exec runs by the agent's tool policy (``tools.*``)."""
    return {
        "path": STORE_PATH,
        "exists": False,
        "hash": None,
        "file": {"version": 1, "defaults": {}, "agents": {}},
    }


class ChannelsPairingListParams(WireParams):
    channel: str | None = Field(default=None, max_length=32)
    account_id: str | None = Field(default=None, max_length=64)


@method(
    "channels.pairing.list",
    params=ChannelsPairingListParams,
    scope=gw_scopes.PAIRING,
    advertised=False,
)
def channels_pairing_list(ctx: CallContext, params: ChannelsPairingListParams) -> dict[str, Any]:
    """Open DM pairing requests of every channel account (expired ones closed first)."""
    try:
        requests = pairing_requests_pending(channel=params.channel, account_id=params.account_id)
    except PairingError as exc:
        raise MethodError(str(exc)) from None
    entries = [pairing_request_entry(request) for request in requests]
    accounts = sorted({(entry["channel"], entry["accountId"]) for entry in entries})
    return {
        "accounts": [{"channel": c, "accountId": a} for c, a in accounts],
        "requests": [{**entry, "notifySupported": True} for entry in entries],
        "commandOwnerConfigured": True,
        "limits": {
            "pendingPerAccount": MAX_PENDING_PER_ACCOUNT,
            "ttlMs": int(PAIRING_REQUEST_TTL.total_seconds() * 1000),
        },
    }


# --- status pages ---------------------------------------------------------------------
@method("diagnostics.lanes", scope=gw_scopes.READ, advertised=False)
def diagnostics_lanes(ctx: CallContext, params: Params) -> dict[str, Any]:
    """Queued and running turns, one lane per agent (from the runs table)."""
    lanes = [
        {
            "lane": agent_id,
            "activeCount": counts["running"],
            "queuedCount": counts["queued"],
            "maxConcurrent": None,
            "draining": False,
            "generation": 0,
        }
        for agent_id, counts in run_counts_by_agent().items()
    ]
    return {"ts": now_ms(), "lanes": lanes, "dynamic": None}


# Features this gateway does not have: OpenClaw's empty answers (read scope, not advertised).
@method("environments.list", scope=gw_scopes.READ, advertised=False)
async def environments_list(ctx: CallContext, params: Params) -> dict[str, Any]:
    return {"environments": [], "profiles": []}


# Advertised: the Appearance page lists session-source plugins only when hello-ok names
# plugins.list, and says "Session source settings are unavailable" otherwise.
@method("plugins.list", scope=gw_scopes.READ)
async def plugins_list(ctx: CallContext, params: Params) -> dict[str, Any]:
    return {"plugins": [], "diagnostics": []}


class ArtifactsListParams(WireParams):
    session_key: str | None = Field(default=None, max_length=512)
    limit: int | None = Field(default=None, ge=1, le=1000)


@method("artifacts.list", params=ArtifactsListParams, scope=gw_scopes.READ, advertised=False)
async def artifacts_list(ctx: CallContext, params: ArtifactsListParams) -> dict[str, Any]:
    return {"artifacts": []}
