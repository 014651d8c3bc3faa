"""Gateway methods: agent, agent.wait.

``agent`` starts a turn as ``chat.send`` does (``agents.services.runs.run_start``) and
answers twice on one request id: ``accepted`` at once, then the result, taken from the
run's final ``chat`` event (or from the stored run if it ended first). ``agent.wait``
waits for a run's end the same way.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from pydantic import Field

from agents.models import Run
from agents.services.runs import RunStatus, run_start, run_status
from core.clock import now_ms
from gateway.frames import ErrorCode, error_shape
from gateway.methods.chat import refuse_attachments
from gateway.methods.registry import CallContext, MethodError, TwoPhase, WireParams, method
from gateway.methods.sessions import domain_errors, live_connection
from sessions_app import wire
from sessions_app.wire import to_ms

AGENT_DEFAULT_TIMEOUT_S = 600
AGENT_WAIT_DEFAULT_TIMEOUT_MS = 30_000
FinalAnswer = tuple[bool, dict[str, Any], dict[str, Any] | None]


class AgentParams(WireParams):
    message: str = ""
    idempotency_key: str = Field(min_length=1, max_length=200)
    agent_id: str | None = None
    session_key: str | None = None
    timeout: int | None = Field(default=None, ge=0)  # seconds
    deliver: bool | None = None
    best_effort_deliver: bool | None = None
    attachments: list[Any] | None = None


def _usage_meta(usage: dict[str, Any] | None) -> dict[str, Any]:
    usage = usage or {}
    return {
        "input": int(usage.get("input", 0)),
        "output": int(usage.get("output", 0)),
        "total": int(usage.get("totalTokens", 0)),
    }


@dataclass(frozen=True)
class _Accepted:
    run_id: str
    session_id: str
    model: str
    accepted_at: int


def _agent_answer(
    accepted: _Accepted,
    *,
    state: str,
    text: str | None,
    usage: dict[str, Any] | None,
    error: str = "",
    error_kind: str = "",
) -> FinalAnswer:
    """The second ``agent`` res frame, from the final chat event or the stored run."""
    run_id = accepted.run_id
    if state == "error":
        summary = error or "the run failed"
        return (
            False,
            {"runId": run_id, "status": "error", "summary": summary},
            error_shape(
                ErrorCode.UNAVAILABLE, summary, details={"errorKind": error_kind or "unknown"}
            ),
        )
    provider, model_name = wire.split_model_ref(accepted.model)
    aborted = state == "aborted"
    return (
        True,
        {
            "runId": run_id,
            "status": "ok",
            "summary": "aborted" if aborted else "completed",
            "result": {
                "payloads": [{"text": text, "mediaUrl": None}] if text else [],
                "meta": {
                    "durationMs": max(0, now_ms() - accepted.accepted_at),
                    "agentMeta": {
                        "sessionId": accepted.session_id,
                        "provider": provider,
                        "model": model_name,
                        "usage": _usage_meta(usage),
                    },
                    "aborted": aborted,
                },
            },
        },
        None,
    )


_STATE_OF_STATUS = {
    Run.Status.SUCCEEDED: "final",
    Run.Status.ABORTED: "aborted",
    Run.Status.FAILED: "error",
}


async def _agent_final(
    future: asyncio.Future[dict[str, Any]], accepted: _Accepted, *, timeout_s: float
) -> FinalAnswer:
    """Wait for the run's final chat event; the DB is checked once in case it came first."""
    run_id = accepted.run_id
    stored = await database_sync_to_async(run_status)(run_id=run_id)
    if stored is not None and stored.finished:
        future.cancel()
        return _agent_answer(
            accepted,
            state=_STATE_OF_STATUS[Run.Status(stored.status)],
            text=stored.reply_text,
            usage=stored.usage,
            error=stored.error_message,
            error_kind=stored.error_kind,
        )
    try:
        event = await asyncio.wait_for(future, timeout_s)
    except TimeoutError:
        summary = (
            f"run {run_id} did not finish within {timeout_s:g}s; it may still complete "
            "(check agent.wait or chat.history)"
        )
        return (
            False,
            {"runId": run_id, "status": "timeout", "summary": summary},
            error_shape(ErrorCode.AGENT_TIMEOUT, summary, retryable=True),
        )
    message = event.get("message") or {}
    return _agent_answer(
        accepted,
        state=str(event.get("state")),
        text=wire.message_text(message.get("content")) or None,
        usage=event.get("usage"),
        error=str(event.get("errorMessage") or ""),
        error_kind=str(event.get("errorKind") or ""),
    )


@method("agent", params=AgentParams)
async def agent(ctx: CallContext, params: AgentParams) -> TwoPhase:
    refuse_attachments(params.attachments)
    if not params.message.strip():
        raise MethodError("agent needs a non-empty message")
    if params.deliver and not params.best_effort_deliver:
        raise MethodError(
            "deliver:true needs a channel connector and none is installed yet; send "
            "deliver:false (the reply still arrives as chat/agent events and in the result)"
        )
    connection = live_connection(ctx)
    # Watch before starting: the final event cannot slip past between start and wait.
    future = connection.watch_run(params.idempotency_key.strip())
    try:
        with domain_errors():
            start = await database_sync_to_async(run_start)(
                session_key=params.session_key,
                message=params.message,
                idempotency_key=params.idempotency_key,
                agent_slug=params.agent_id,
            )
    except BaseException:
        future.cancel()
        raise
    run = start.run  # session and agent are loaded: no query from here on
    connection.join_tool_events(run.session.key)
    accepted_at = now_ms()
    first = {
        "runId": run.run_id,
        "sessionKey": run.session.key,
        "agentId": run.agent.slug,
        "status": "accepted",
        "acceptedAt": accepted_at,
    }
    accepted = _Accepted(
        run_id=run.run_id,
        session_id=str(run.session.session_id),
        model=run.model,
        accepted_at=accepted_at,
    )
    final = _agent_final(
        future, accepted, timeout_s=float(params.timeout or AGENT_DEFAULT_TIMEOUT_S)
    )
    return TwoPhase(first=first, final=final)


class AgentWaitParams(WireParams):
    run_id: str = Field(min_length=1)
    timeout_ms: int = Field(default=AGENT_WAIT_DEFAULT_TIMEOUT_MS, ge=0)


def _wait_answer(status: RunStatus) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "runId": status.run_id,
        "status": "error" if status.status == Run.Status.FAILED else "ok",
    }
    if status.started_at is not None:
        answer["startedAt"] = to_ms(status.started_at)
    if status.finished_at is not None:
        answer["endedAt"] = to_ms(status.finished_at)
    if status.status == Run.Status.FAILED:
        answer["error"] = status.error_message or "the run failed"
    return answer


@method("agent.wait", params=AgentWaitParams)
async def agent_wait(ctx: CallContext, params: AgentWaitParams) -> dict[str, Any]:
    connection = live_connection(ctx)
    future = connection.watch_run(params.run_id)
    stored = await database_sync_to_async(run_status)(run_id=params.run_id)
    if stored is not None and stored.finished:
        future.cancel()
        return _wait_answer(stored)
    try:
        await asyncio.wait_for(future, params.timeout_ms / 1000)
    except TimeoutError:
        return {"runId": params.run_id, "status": "timeout"}
    stored = await database_sync_to_async(run_status)(run_id=params.run_id)
    if stored is None:  # deleted with its session meanwhile
        return {"runId": params.run_id, "status": "error", "error": "the run no longer exists"}
    return _wait_answer(stored)
