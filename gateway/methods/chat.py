"""Gateway methods: chat.send, chat.history (and chat.startup, chat.metadata), chat.abort.

``chat.send`` and ``agent`` (``gateway/methods/agent.py``) share one service,
``agents.services.runs.run_start``; the reply arrives as ``chat`` / ``agent`` events
published by the worker that runs the turn.

An in-chat command (``/status``, ``/new``, ``/model``, ``/approve`` …: the shared
``agents.services.chat_commands``, the operator being an owner) starts no run: its
answer is ``{runId, status:"ok"}`` and one ``chat`` ``final`` event on that runId
carrying the command's reply as an assistant message (what OpenClaw's TUI and Control UI
show). A stop command answers ``{ok, aborted, runIds}`` as OpenClaw's does. Neither is
written to the transcript (docs/agent-runtime.md, "In-chat commands").
"""

from __future__ import annotations

import base64
import json
from typing import Any

from django.db import transaction
from pydantic import Field, model_validator

from agents.models import Run
from agents.runtime.announce import Announcer, assistant_message
from agents.runtime.model_config import display_model_ref as default_model_ref
from agents.services.chat_commands import CommandReply, chat_command_handle
from agents.services.runs import run_abort, run_start
from gateway import scopes as gw_scopes
from gateway.catalog import agents as agent_wire
from gateway.catalog import commands as command_wire
from gateway.catalog.wire import thinking
from gateway.frames import ErrorCode
from gateway.methods.registry import CallContext, MethodError, WireParams, method
from gateway.methods.sessions import canonical_key, domain_errors, session_defaults
from sessions_app import selectors
from sessions_app.lib.keys import is_main_key, parse_agent_id
from sessions_app.selectors import HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT

# OpenClaw caps a chat.history answer at 6 MiB; maxBytes may ask for less.
HISTORY_MAX_BYTES = 6 * 1024 * 1024


def refuse_attachments(attachments: list[Any] | None) -> None:
    """Refuse a message with attachments (``chat.send``, ``agent``): text only for now."""
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


def _command_answer(params: ChatSendParams, command: CommandReply) -> dict[str, Any]:
    """Answer a command: as OpenClaw for a stop, else ``ok`` plus the reply as ``final``."""
    if command.command == "stop":
        run_ids = command.aborted_run_ids
        return {"ok": True, "aborted": bool(run_ids), "runIds": run_ids}
    run_id = params.idempotency_key
    key = canonical_key(params.session_key)
    announcer = Announcer(
        run_id=run_id, session_key=key, session_id="", agent_slug=parse_agent_id(key) or ""
    )
    message = assistant_message(command.text)
    transaction.on_commit(lambda: announcer.chat("final", stopReason="stop", message=message))
    return {"runId": run_id, "status": "ok"}


@method("chat.send", params=ChatSendParams)
def chat_send(ctx: CallContext, params: ChatSendParams) -> dict[str, Any]:
    refuse_attachments(params.attachments)
    with domain_errors():
        # The operator at the gateway is an owner (``/approve`` is theirs).
        command = chat_command_handle(
            text=params.message, session_key=params.session_key, sender_is_owner=True
        )
    if command is not None:
        return _command_answer(params, command)
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
    # Paging back: skip this many of the newest messages (a page's ``nextOffset``).
    offset: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _one_position(self) -> ChatHistoryParams:
        if self.offset is not None and self.delta_cursor:
            raise ValueError("offset cannot be used with deltaCursor; send one of them")
        return self


class ChatStartupParams(ChatHistoryParams):
    session_key: str = Field(default="main", min_length=1)


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


def _history_payload(params: ChatHistoryParams) -> dict[str, Any]:
    """``chat.history``'s answer (one selector call): the latest window, an older page
    (``offset``) or what came after a ``deltaCursor``, as OpenClaw pages them."""
    offset = params.offset or 0
    history = selectors.chat_history(
        key=canonical_key(params.session_key),
        limit=params.limit,
        after=_decode_cursor(params.delta_cursor),
        default_model=default_model_ref(),
        offset=offset,
    )
    messages, trimmed = _fit(history.messages, params.max_bytes)
    has_more = history.has_more or trimmed
    payload: dict[str, Any] = {"sessionKey": history.session_key}
    if history.session_id is not None:
        payload["sessionId"] = history.session_id
        # A page further back ends before the newest message: no cursor to follow from.
        if not offset:
            payload["deltaCursor"] = _encode_cursor(
                agent_id=(history.session or {}).get("agentId"),
                session_id=history.session_id,
                last_seq=history.last_seq,
            )
    payload["messages"] = messages
    if params.offset is not None:
        payload["offset"] = offset
    if has_more and not params.delta_cursor:
        payload["nextOffset"] = offset + len(messages)
    payload.update(
        hasMore=has_more,
        totalMessages=history.total_messages,
        pendingInputs={"items": [], "total": 0},
        defaults=session_defaults(),
        sessionInfo=history.session,
    )
    if history.session and history.session.get("thinkingLevel"):
        payload["thinkingLevel"] = history.session["thinkingLevel"]
    return payload


@method("chat.history", params=ChatHistoryParams)
def chat_history(ctx: CallContext, params: ChatHistoryParams) -> dict[str, Any]:
    return _history_payload(params)


@method("chat.startup", params=ChatStartupParams, scope=gw_scopes.READ, advertised=False)
def chat_startup(ctx: CallContext, params: ChatStartupParams) -> dict[str, Any]:
    """The Control UI's first read of a chat: ``chat.history``'s latest window plus the
    models and slash commands (``metadata``), as OpenClaw's ``chat.startup`` answers."""
    payload = _history_payload(params)
    payload["defaults"] = {
        **payload["defaults"],
        **thinking(),
        "modelSelectionTarget": "session",
    }
    if payload["sessionInfo"] is None:  # no session yet: the first chat.send creates it
        key = payload["sessionKey"]
        payload["sessionInfo"] = {
            "key": key,
            "kind": "direct",
            "agentId": parse_agent_id(key),
            "isMain": is_main_key(key),
            "updatedAt": None,
            "modelProvider": payload["defaults"]["modelProvider"],
            "model": payload["defaults"]["model"],
        }
    payload["sessionInfo"] = {
        **payload["sessionInfo"],
        "hasActiveRun": False,
        "activeRunIds": [],
    }
    payload.setdefault("thinkingLevel", "off")
    payload["metadata"] = command_wire.chat_metadata()
    return payload


class ChatMetadataParams(WireParams):
    agent_id: str | None = Field(default=None, max_length=64)


@method("chat.metadata", params=ChatMetadataParams, scope=gw_scopes.READ, advertised=False)
def chat_metadata(ctx: CallContext, params: ChatMetadataParams) -> dict[str, Any]:
    """The models and slash commands of a chat (the same for every agent here)."""
    if (
        params.agent_id
        and agent_wire.agent_identity(agent_id=params.agent_id.strip().lower()) is None
    ):
        raise MethodError(f"unknown agent id: {params.agent_id}; list agents with agents.list")
    return command_wire.chat_metadata()


class ChatAbortParams(WireParams):
    session_key: str = Field(min_length=1)
    run_id: str | None = None


@method("chat.abort", params=ChatAbortParams)
def chat_abort(ctx: CallContext, params: ChatAbortParams) -> dict[str, Any]:
    with domain_errors():
        run_ids = run_abort(session_key=params.session_key, run_id=params.run_id)
    return {"ok": True, "aborted": bool(run_ids), "runIds": run_ids}
