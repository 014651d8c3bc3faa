"""Gateway methods: chat.send, chat.history, chat.abort, agent, agent.wait, send.

``chat.send`` and ``agent`` share one service, ``agents.services.runs.run_start``; the reply
arrives as ``chat`` / ``agent`` events published by the worker that runs the turn.
``agent`` answers twice on one request id: ``accepted`` at once, then the result.
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from pydantic import Field

from agents.models import Run
from agents.runtime.model_config import display_model_ref as default_model_ref
from agents.services.runs import RunStatus, run_abort, run_start, run_status
from channels_app.models import ChannelKind
from channels_app.services import OutboundError, outbound_enqueue
from gateway.frames import ErrorCode, error_shape
from gateway.methods.registry import CallContext, MethodError, TwoPhase, method
from gateway.methods.sessions import (
    WireParams,
    canonical_key,
    domain_errors,
    live_connection,
    now_ms,
    session_defaults,
)
from sessions_app import selectors
from sessions_app.selectors import HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT, to_ms

AGENT_DEFAULT_TIMEOUT_S = 600
# OpenClaw caps a chat.history answer at 6 MiB; maxBytes may ask for less.
HISTORY_MAX_BYTES = 6 * 1024 * 1024
AGENT_WAIT_DEFAULT_TIMEOUT_MS = 30_000
# OpenClaw's stop commands (src/auto-reply/reply/abort.ts), English subset: they abort
# the session's runs instead of starting one.
STOP_WORDS = frozenset(
    {"/stop", "stop", "esc", "abort", "wait", "exit", "interrupt", "halt", "please stop"}
)
FinalAnswer = tuple[bool, dict[str, Any], dict[str, Any] | None]


def _is_stop_command(message: str) -> bool:
    return message.strip().lower().rstrip(".!?\u3002\uff01\uff1f ") in STOP_WORDS


def _no_attachments(attachments: list[Any] | None) -> None:
    if attachments:
        raise MethodError(
            "attachments are not supported by this gateway yet; send the message as text"
        )


# --- chat.send / chat.history / chat.abort -------------------------------------------
class ChatSendParams(WireParams):
    session_key: str = Field(min_length=1)
    message: str = ""
    idempotency_key: str = Field(min_length=1, max_length=200)
    thinking: str | None = None
    deliver: bool | None = None
    timeout_ms: int | None = Field(default=None, ge=0)
    attachments: list[Any] | None = None


@method("chat.send", params=ChatSendParams)
def chat_send(ctx: CallContext, params: ChatSendParams) -> dict[str, Any]:
    _no_attachments(params.attachments)
    if _is_stop_command(params.message):
        with domain_errors():
            run_ids = run_abort(session_key=params.session_key)
        return {"ok": True, "aborted": bool(run_ids), "runIds": run_ids}
    if not params.message.strip():
        raise MethodError("chat.send needs a non-empty message")
    with domain_errors():
        start = run_start(
            session_key=params.session_key,
            message=params.message,
            idempotency_key=params.idempotency_key,
        )
    run = start.run
    if ctx.connection is not None:
        ctx.connection.join_tool_events(run.session.key)
    if start.created:
        return {"runId": run.run_id, "status": "started"}
    # A retry of a known idempotencyKey: report where that run stands, start nothing.
    if run.status in (Run.Status.QUEUED, Run.Status.RUNNING):
        return {"runId": run.run_id, "status": "in_flight"}
    if run.status == Run.Status.FAILED:
        raise MethodError(
            run.error_message or "the run failed",
            code=ErrorCode.UNAVAILABLE,
            details={"runId": run.run_id, "status": "error", "errorKind": run.error_kind},
        )
    return {"runId": run.run_id, "status": "ok"}


class ChatHistoryParams(WireParams):
    session_key: str = Field(min_length=1)
    limit: int = Field(default=HISTORY_DEFAULT_LIMIT, ge=1, le=HISTORY_MAX_LIMIT)
    max_bytes: int = Field(default=HISTORY_MAX_BYTES, ge=1024, le=HISTORY_MAX_BYTES)
    delta_cursor: str | None = Field(default=None, max_length=2048)


def _encode_cursor(*, agent_id: str | None, session_id: str, last_seq: int) -> str:
    raw = json.dumps(
        {
            "agentId": agent_id,
            "generation": session_id.replace("-", ""),
            "lastSeq": last_seq,
            "sessionId": session_id,
            "version": 1,
        },
        separators=(",", ":"),
        sort_keys=True,
    )
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None) -> tuple[str, int] | None:
    """(sessionId, lastSeq) of a cursor this gateway issued; None for anything else."""
    if not cursor:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return str(data["sessionId"]), int(data["lastSeq"])
    except (ValueError, KeyError, TypeError):
        return None


def _fit(
    messages: list[dict[str, Any]], max_bytes: int | None
) -> tuple[list[dict[str, Any]], bool]:
    """Drop the oldest messages until the page fits ``max_bytes`` of JSON."""
    if max_bytes is None:
        return messages, False
    sizes = [len(json.dumps(m, ensure_ascii=False).encode()) for m in messages]
    start, total = 0, sum(sizes)
    while start < len(messages) and total > max_bytes:
        total -= sizes[start]
        start += 1
    return messages[start:], start > 0


@method("chat.history", params=ChatHistoryParams)
def chat_history(ctx: CallContext, params: ChatHistoryParams) -> dict[str, Any]:
    history = selectors.chat_history(
        key=canonical_key(params.session_key),
        limit=params.limit,
        after=_decode_cursor(params.delta_cursor),
        default_model=default_model_ref(),
    )
    messages, trimmed = _fit(history.messages, params.max_bytes)
    payload: dict[str, Any] = {"sessionKey": history.session_key}
    if history.session_id is not None:
        payload["sessionId"] = history.session_id
        payload["deltaCursor"] = _encode_cursor(
            agent_id=(history.session or {}).get("agentId"),
            session_id=history.session_id,
            last_seq=history.last_seq,
        )
    payload.update(
        messages=messages,
        hasMore=history.has_more or trimmed,
        totalMessages=history.total_messages,
        pendingInputs={"items": [], "total": 0},
        defaults=session_defaults(),
        sessionInfo=history.session,
    )
    if history.session and history.session.get("thinkingLevel"):
        payload["thinkingLevel"] = history.session["thinkingLevel"]
    return payload


class ChatAbortParams(WireParams):
    session_key: str = Field(min_length=1)
    run_id: str | None = None


@method("chat.abort", params=ChatAbortParams)
def chat_abort(ctx: CallContext, params: ChatAbortParams) -> dict[str, Any]:
    with domain_errors():
        run_ids = run_abort(session_key=params.session_key, run_id=params.run_id)
    return {"ok": True, "aborted": bool(run_ids), "runIds": run_ids}


# --- agent / agent.wait ---------------------------------------------------------------
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
    provider, model_name = selectors.split_model_ref(accepted.model)
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
        text=selectors.message_text(message.get("content")) or None,
        usage=event.get("usage"),
        error=str(event.get("errorMessage") or ""),
        error_kind=str(event.get("errorKind") or ""),
    )


@method("agent", params=AgentParams)
async def agent(ctx: CallContext, params: AgentParams) -> TwoPhase:
    _no_attachments(params.attachments)
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


# --- send -----------------------------------------------------------------------------
class SendParams(WireParams):
    to: str = Field(min_length=1)
    message: str | None = None
    media_url: str | None = None
    media_urls: list[str] | None = None
    channel: str | None = None
    account_id: str | None = None
    idempotency_key: str = Field(min_length=1, max_length=200)


@method("send", params=SendParams)
def send(ctx: CallContext, params: SendParams) -> dict[str, Any]:
    """Accept a message into a channel account's durable outbox (idempotent).

    Delivery is the connector's job: the row stays pending until the account's
    connector sends it, so an accepted message is never lost or sent twice.
    """
    channel = (params.channel or "").strip().lower()
    if not channel or channel == "last":
        raise MethodError(
            "send needs an explicit channel, e.g. channel: 'telegram' (this gateway does "
            "not track a last-used channel)"
        )
    if channel not in ChannelKind.values:
        raise MethodError(
            f"unknown channel {channel!r}; known channels: {', '.join(ChannelKind.values)}"
        )
    if params.media_url or params.media_urls:
        raise MethodError("media is not supported by send yet; send text in message")
    try:
        enqueued = outbound_enqueue(
            kind=channel,
            account_id=(params.account_id or "default").strip().lower(),
            chat_id=params.to.strip(),
            text=params.message or "",
            dedupe_key=f"send:{params.idempotency_key}",
        )
    except OutboundError as exc:
        raise MethodError(str(exc)) from None
    return {
        "runId": params.idempotency_key,
        "messageId": str(enqueued.message.public_id),
        "channel": channel,
        "chatId": enqueued.message.chat_id,
        "status": enqueued.message.status,
    }
