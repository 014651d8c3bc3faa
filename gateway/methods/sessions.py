"""Gateway methods: sessions.* (see registry.py).

Sync handlers make their one database hop through the registry; the subscribe methods
are async and only touch this connection's subscriptions (plus one hop to canonicalize
keys). ``sessions.compact`` is async too: a worker writes the summary, the handler
awaits its reply. Session keys from clients are canonicalized first (``main`` → the default
agent's main session; bare keys get ``agent:<default>:``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from channels.db import database_sync_to_async
from pydantic import Field

from agents.runtime.model_config import display_model_ref as default_model_ref
from agents.services.compaction import (
    CompactionError,
    manual_compaction_wait_s,
    session_compact_request,
)
from agents.services.runs import RunError, session_key_canonical
from core.clock import now_ms
from gateway.frames import ErrorCode
from gateway.methods.compact_reply import compact_answer, compact_reply
from gateway.methods.registry import CallContext, Connection, MethodError, WireParams, method
from sessions_app import selectors, wire
from sessions_app.lib.keys import SessionKeyError
from sessions_app.services import (
    PATCHABLE_FIELDS,
    SessionError,
    session_delete,
    session_patch,
    session_reset,
)

# OpenClaw sessions.patch fields this gateway does not store yet: refused, not ignored.
UNSUPPORTED_PATCH_FIELDS = frozenset(
    {
        "verboseLevel", "reasoningLevel", "responseUsage", "elevatedLevel", "execHost",
        "execSecurity", "execAsk", "execNode", "spawnedBy", "spawnDepth", "sendPolicy",
        "groupActivation",
    }
)  # fmt: skip


def live_connection(ctx: CallContext) -> Connection:
    if ctx.connection is None:
        raise MethodError(
            "this method needs a live WebSocket connection", code=ErrorCode.UNAVAILABLE
        )
    return ctx.connection


@contextmanager
def domain_errors() -> Iterator[None]:
    """Turn the services' refusals into INVALID_REQUEST answers carrying their message."""
    try:
        yield
    except (SessionKeyError, SessionError, RunError) as exc:
        raise MethodError(str(exc)) from None


def canonical_key(raw: str) -> str:
    with domain_errors():
        return session_key_canonical(raw)


def _canonical_keys(raw: list[str]) -> list[str]:
    return [canonical_key(key) for key in raw]


def session_defaults() -> dict[str, Any]:
    """The ``defaults`` block of sessions.list and chat.history: the model runs use."""
    provider, model = wire.split_model_ref(default_model_ref())
    return {"modelProvider": provider, "model": model, "contextTokens": None}


# --- sessions.list / describe / resolve / preview ------------------------------------
class SessionsListParams(WireParams):
    limit: int | None = Field(default=None, ge=1)
    offset: int = Field(default=0, ge=0)
    active_minutes: int | None = Field(default=None, ge=1)
    include_global: bool = False
    include_unknown: bool = False
    include_last_message: bool = False
    label: str | None = None
    spawned_by: str | None = None
    agent_id: str | None = None
    search: str | None = None
    # Sessions with (True) or without (False) a board; this gateway has no boards.
    has_board: bool | None = None


@method("sessions.list", params=SessionsListParams)
def sessions_list(ctx: CallContext, params: SessionsListParams) -> dict[str, Any]:
    if params.spawned_by or params.has_board:
        # No session is spawned by another here (no sub-agents yet), and none has a
        # board (no boards): none matches.
        page = selectors.SessionsPage(
            rows=[], total_count=0, limit_applied=params.limit or 0, offset=params.offset
        )
    else:
        page = selectors.sessions_list(
            agent_id=params.agent_id.strip().lower() if params.agent_id else None,
            limit=params.limit,
            offset=params.offset,
            active_minutes=params.active_minutes,
            label=params.label,
            search=params.search,
            include_global=params.include_global,
            include_unknown=params.include_unknown,
            include_last_message=params.include_last_message,
            default_model=default_model_ref(),
        )
    return {
        "ts": now_ms(),
        "path": "database",
        "count": len(page.rows),
        "totalCount": page.total_count,
        "limitApplied": page.limit_applied,
        "nextOffset": page.next_offset,
        "hasMore": page.next_offset is not None,
        "owners": [],
        "defaults": session_defaults(),
        "sessions": page.rows,
    }


class SessionKeyParams(WireParams):
    key: str = Field(min_length=1)


@method("sessions.describe", params=SessionKeyParams)
def sessions_describe(ctx: CallContext, params: SessionKeyParams) -> dict[str, Any]:
    row = selectors.session_describe(
        key=canonical_key(params.key), default_model=default_model_ref()
    )
    return {"session": row}


class SessionsResolveParams(WireParams):
    key: str | None = None
    session_id: str | None = None
    label: str | None = None
    agent_id: str | None = None


@method("sessions.resolve", params=SessionsResolveParams)
def sessions_resolve(ctx: CallContext, params: SessionsResolveParams) -> dict[str, Any]:
    if not (params.key or params.session_id or params.label):
        raise MethodError("sessions.resolve needs one of key, sessionId or label")
    key = canonical_key(params.key) if params.key else None
    found = selectors.session_resolve(
        key=key,
        session_id=params.session_id if not key else None,
        label=params.label if not (key or params.session_id) else None,
        agent_id=params.agent_id.strip().lower() if params.agent_id else None,
    )
    if found is None:
        asked = (
            f"key {key}"
            if key
            else f"sessionId {params.session_id}"
            if params.session_id
            else f"label {params.label!r}"
        )
        raise MethodError(f"no session found for {asked}; sessions.list shows the known ones")
    return {"ok": True, "key": found}


class SessionsPreviewParams(WireParams):
    keys: list[str] = Field(min_length=1, max_length=selectors.PREVIEW_MAX_KEYS)
    limit: int = Field(default=12, ge=1, le=100)
    max_chars: int = Field(default=selectors.PREVIEW_MAX_CHARS, ge=20)


@method("sessions.preview", params=SessionsPreviewParams)
def sessions_preview(ctx: CallContext, params: SessionsPreviewParams) -> dict[str, Any]:
    canonical: dict[str, str] = {}
    for raw in params.keys:
        try:
            canonical[raw] = session_key_canonical(raw)
        except SessionKeyError:
            continue
    found = {
        entry["key"]: entry
        for entry in selectors.sessions_preview(
            keys_=list(canonical.values()), limit=params.limit, max_chars=params.max_chars
        )
    }
    previews = [
        {**found[canonical[raw]], "key": raw}
        if raw in canonical
        else {"key": raw, "status": "error", "items": []}
        for raw in params.keys
    ]
    return {"ts": now_ms(), "previews": previews}


# --- sessions.patch / reset / delete (admin) ------------------------------------------
def _refuse_webchat(ctx: CallContext, action: str) -> None:
    if ctx.client_mode == "webchat":
        raise MethodError(
            f"webchat clients cannot {action} sessions; use the CLI, the TUI or the admin"
        )


class SessionsPatchParams(WireParams):
    key: str = Field(min_length=1)
    label: str | None = None
    thinking_level: str | None = None
    model: str | None = None
    queue_mode: str | None = None


@method("sessions.patch", params=SessionsPatchParams)
def sessions_patch(ctx: CallContext, params: SessionsPatchParams) -> dict[str, Any]:
    _refuse_webchat(ctx, "patch")
    unsupported = sorted(UNSUPPORTED_PATCH_FIELDS & set(params.model_extra or {}))
    if unsupported:
        raise MethodError(
            f"sessions.patch cannot set {', '.join(unsupported)} on this gateway yet; "
            f"supported fields: {', '.join(sorted(PATCHABLE_FIELDS))}"
        )
    sent = params.model_dump(by_alias=True, include=params.model_fields_set - {"key"})
    changes = {PATCHABLE_FIELDS[name]: value for name, value in sent.items()}
    with domain_errors():
        session = session_patch(key=canonical_key(params.key), changes=changes)
    entry = wire.session_row(session, default_model=default_model_ref())
    return {
        "ok": True,
        "path": "database",
        "key": session.key,
        "entry": entry,
        "resolved": {"modelProvider": entry.get("modelProvider"), "model": entry.get("model")},
    }


class SessionsResetParams(WireParams):
    key: str = Field(min_length=1)
    reason: Literal["new", "reset"] = "reset"


@method("sessions.reset", params=SessionsResetParams)
def sessions_reset(ctx: CallContext, params: SessionsResetParams) -> dict[str, Any]:
    with domain_errors():
        session = session_reset(key=canonical_key(params.key), reason=params.reason)
    return {
        "ok": True,
        "key": session.key,
        "entry": wire.session_row(session, default_model=default_model_ref()),
    }


class SessionsDeleteParams(WireParams):
    key: str = Field(min_length=1)
    delete_transcript: bool = True


@method("sessions.delete", params=SessionsDeleteParams)
def sessions_delete(ctx: CallContext, params: SessionsDeleteParams) -> dict[str, Any]:
    _refuse_webchat(ctx, "delete")
    key = canonical_key(params.key)
    with domain_errors():
        deleted = session_delete(key=key)
    # The transcript lives in the database with its session and goes with it; nothing
    # is archived to files (deleteTranscript=false cannot keep it).
    return {"ok": True, "key": key, "deleted": deleted, "archived": []}


class SessionsCompactParams(WireParams):
    key: str = Field(min_length=1)
    # OpenClaw's maxLines (kept transcript lines) does not apply: we summarize instead,
    # keeping recent turns by token budget (OPENCLAW_COMPACTION_KEEP_RECENT_TOKENS).
    max_lines: int | None = Field(default=None, ge=1)
    instructions: str | None = Field(default=None, max_length=2000)


def _compact_request(raw_key: str, request_id: str, instructions: str | None) -> str:
    """The door's half of sessions.compact (one database hop): check, enqueue."""
    key = canonical_key(raw_key)
    try:
        session_compact_request(key=key, request_id=request_id, instructions=instructions)
    except CompactionError as exc:
        raise MethodError(exc.message) from None
    return key


@method("sessions.compact", params=SessionsCompactParams)
async def sessions_compact(ctx: CallContext, params: SessionsCompactParams) -> dict[str, Any]:
    """Summarize the session's older turns into a compaction entry, now, on a worker.

    The summary is a model call with failover (minutes at worst): it must not hold the
    shared database thread, which every socket of this process needs. One answer, when
    the worker replies (``agents.services.compaction.COMPACTION_EVENT``).
    """
    connection = live_connection(ctx)
    request_id = f"compact:{uuid.uuid4().hex}"
    # Watch before enqueueing: the reply cannot slip past between the two.
    reply = connection.watch_reply(request_id)
    try:
        key = await database_sync_to_async(_compact_request)(
            params.key, request_id, params.instructions
        )
        wait_s = manual_compaction_wait_s()
        answer = await compact_reply(reply, key=key, request_id=request_id, wait_s=wait_s)
    finally:
        reply.cancel()
    return compact_answer(key, answer)


# --- subscriptions (async: this connection only) --------------------------------------
class SessionsSubscribeParams(WireParams):
    keys: list[str] | None = None


@method("sessions.subscribe", params=SessionsSubscribeParams)
async def sessions_subscribe(ctx: CallContext, params: SessionsSubscribeParams) -> dict[str, Any]:
    connection = live_connection(ctx)
    keys = await database_sync_to_async(_canonical_keys)(params.keys) if params.keys else None
    connection.subscribe_sessions(keys)
    return {"subscribed": True}


@method("sessions.unsubscribe", params=SessionsSubscribeParams)
async def sessions_unsubscribe(ctx: CallContext, params: SessionsSubscribeParams) -> dict[str, Any]:
    connection = live_connection(ctx)
    keys = await database_sync_to_async(_canonical_keys)(params.keys) if params.keys else None
    connection.unsubscribe_sessions(keys)
    return {"subscribed": False}


@method("sessions.messages.subscribe", params=SessionKeyParams, advertised=False)
async def sessions_messages_subscribe(ctx: CallContext, params: SessionKeyParams) -> dict[str, Any]:
    connection = live_connection(ctx)
    key = await database_sync_to_async(canonical_key)(params.key)
    connection.subscribe_messages(key, True)
    # Approvals are not implemented yet: there is never one to replay.
    replay = {"sessionKey": key, "updatedAtMs": now_ms(), "approvals": [], "truncated": False}
    return {"subscribed": True, "key": key, "approvalReplay": replay}


@method("sessions.messages.unsubscribe", params=SessionKeyParams, advertised=False)
async def sessions_messages_unsubscribe(
    ctx: CallContext, params: SessionKeyParams
) -> dict[str, Any]:
    connection = live_connection(ctx)
    key = await database_sync_to_async(canonical_key)(params.key)
    connection.subscribe_messages(key, False)
    return {"subscribed": False, "key": key}
