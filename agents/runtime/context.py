"""The conversation a model call sees, read back from the session transcript.

The transcript is the source of truth: user messages, assistant messages (text plus
``toolCall`` blocks), one ``tool`` message per tool result, and ``compaction`` entries.
This module turns it into provider-neutral ``ChatMessage`` lists:

- history starts at the latest compaction (its summary first, then the kept messages);
- messages of runs still queued are left out (they are answered later), except those
  merged into the run being answered (queue modes collect, steer, interrupt);
- messages are grouped per turn: a run's messages follow its trigger, even when a user
  message of a later run was appended in between (seq order alone would interleave);
- tool results are placed right after the assistant message that called them, a call
  without a recorded result gets an explicit error result (the run was interrupted),
  and orphan results are dropped, so every provider accepts the history.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q

from agents.models import Run
from agents.providers import ChatMessage, ToolCall, ToolResult
from core.ttlcache import TTLCache
from sessions_app.models import Message, Session

# Hard cap of transcript rows read for one prompt; compaction keeps real prompts smaller.
MAX_HISTORY_MESSAGES = 400
INTERRUPTED_RESULT = (
    "error: no result was recorded for this tool call: the run was interrupted (worker "
    "restart) while it ran, so it may or may not have taken effect. Check before retrying."
)
_ROLES = (Message.Role.USER, Message.Role.ASSISTANT, Message.Role.TOOL)


@dataclass(frozen=True)
class History:
    summary: str | None
    messages: list[ChatMessage]
    compaction_seq: int | None = None
    # id(message) → transcript seq, for user and assistant messages (compaction uses it).
    seq_of: dict[int, int] = field(default_factory=dict)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(
        str(block.get("text", ""))
        for block in content or []
        if isinstance(block, dict) and block.get("type") == "text"
    )


def _tool_calls(content: Any) -> tuple[ToolCall, ...]:
    calls = []
    for block in content or []:
        if isinstance(block, dict) and block.get("type") == "toolCall":
            raw = block.get("rawArguments")
            arguments = raw if isinstance(raw, str) else json.dumps(block.get("arguments") or {})
            calls.append(
                ToolCall(
                    id=str(block.get("id", "")),
                    name=str(block.get("name", "")),
                    arguments=arguments,
                )
            )
    return tuple(calls)


def tool_call_block(call: ToolCall) -> dict[str, Any]:
    """The transcript block of one tool call (OpenClaw's ``toolCall`` content block)."""
    block: dict[str, Any] = {"type": "toolCall", "id": call.id, "name": call.name}
    try:
        block["arguments"] = call.parsed_arguments()
    except ValueError:
        block["arguments"] = {}
        block["rawArguments"] = call.arguments
    return block


def _latest_compaction(session: Session) -> tuple[str | None, int | None, int | None]:
    row = (
        Message.objects.filter(session=session, role=Message.Role.COMPACTION)
        .filter(_after_reset(session))
        .order_by("-seq")
        .values_list("seq", "content", "details")
        .first()
    )
    if row is None:
        return None, None, None
    seq, content, details = row
    first_kept = (details or {}).get("firstKeptSeq")
    return _text(content), (int(first_kept) if first_kept is not None else seq), seq


def _after_reset(session: Session) -> Q:
    if session.last_reset_at is None:
        return Q()
    return Q(created_at__gt=session.last_reset_at)


# (seq, the message as the model sees it, its run's public id as an int: a UUID's hash
# and == are Python code, and every prompt looks each row's run up a few times)
Row = tuple[int, ChatMessage, int | None]
_ROW_FIELDS = ("seq", "role", "content", "details", "run_public_id")
# Transcript rows per session, kept in-process and already converted: messages are
# append-only, so each model call fetches only the rows added since the last one
# (re-reading and decoding the whole history was nearly half of a turn's CPU). Keyed by
# the session's reset generation; reloaded in full every ROW_CACHE_TTL_S (counted from
# the full load, kept with the rows), so a message deleted by hand stops being sent
# within that time.
ROW_CACHE_SESSIONS = 64
ROW_CACHE_TTL_S = 300.0
_rows_cache: TTLCache[tuple[Any, ...], tuple[float, list[Row]]] = TTLCache(
    "agents.history_rows", ttl_s=ROW_CACHE_TTL_S, max_entries=ROW_CACHE_SESSIONS
)
# Group info of runs that ended (immutable from then on): public id (int) → trigger seq.
ENDED_RUNS_MAX = 20_000
ENDED_RUNS_TTL_S = 3600.0
_ended_runs: TTLCache[int, tuple[int | None]] = TTLCache(
    "agents.ended_runs", ttl_s=ENDED_RUNS_TTL_S, max_entries=ENDED_RUNS_MAX
)


def _rows(values: Iterable[tuple[Any, ...]]) -> list[Row]:
    return [
        (
            seq,
            _to_chat(role, content, details or {}),
            None if run_public_id is None else run_public_id.int,
        )
        for seq, role, content, details, run_public_id in values
    ]


def _history_rows(session: Session, first_kept: int | None) -> list[Row]:
    key = (session.pk, session.session_id, session.last_reset_at, first_kept)
    # One filter() call: each chained one clones and resolves the query again.
    where: dict[str, Any] = {"session_id": session.pk, "role__in": _ROLES}
    if session.last_reset_at is not None:
        where["created_at__gt"] = session.last_reset_at  # as ``_after_reset``
    if first_kept is not None:
        where["seq__gte"] = first_kept
    now = time.monotonic()
    loaded_at, cached = _rows_cache.get(key) or (now, [])
    if cached and now - loaded_at < ROW_CACHE_TTL_S:
        where["seq__gt"] = cached[-1][0]
        newer = Message.objects.filter(**where).order_by("seq").values_list(*_ROW_FIELDS)
        fetched = [*cached, *_rows(newer)][-MAX_HISTORY_MESSAGES:]
    else:
        loaded_at = now
        latest = (Message.objects.filter(**where).order_by("-seq").values_list(*_ROW_FIELDS))[
            :MAX_HISTORY_MESSAGES
        ]
        fetched = _rows(reversed(list(latest)))
    _rows_cache.set(key, (loaded_at, fetched))
    return fetched


def remember_ended_run(public_id: uuid.UUID, trigger_seq: int | None) -> None:
    """Record a run that just ended (its grouping never changes again)."""
    _ended_runs.set(public_id.int, (trigger_seq,))


def forget_history() -> None:
    _rows_cache.clear()
    _ended_runs.clear()


def history_for(*, session: Session, run: Run | None) -> History:
    """The conversation ``run`` answers (``run=None``: the whole current conversation)."""
    # compaction_count says whether there is a compaction entry to look for at all.
    summary, first_kept, compaction_seq = (
        _latest_compaction(session) if session.compaction_count else (None, None, None)
    )
    fetched = _history_rows(session, first_kept)
    groups = _run_groups({r[2] for r in fetched if r[2] is not None}, run)
    kept: list[tuple[tuple[int, int], ChatMessage]] = []
    for seq, message, run_key in fetched:
        group = None if run_key is None else groups.get(run_key)
        if group is not None:
            include, group_seq = group
            if not include:
                continue
            key = (group_seq if group_seq is not None else seq, seq)
        else:
            key = (seq, seq)
        kept.append((key, message))
    kept.sort(key=lambda item: item[0])
    chat = [message for _, message in kept]
    seq_of = {id(message): key[1] for key, message in kept}
    return History(summary, repair(chat), compaction_seq, seq_of)


def _run_groups(run_keys: Iterable[int], run: Run | None) -> dict[int, tuple[bool, int | None]]:
    """Map each run public id (int) to (include it?, the trigger seq its turn is sorted
    by). Runs that ended are answered from ``_ended_runs``; only the others are queried.
    """
    out: dict[int, tuple[bool, int | None]] = {}
    ids = []
    current = None if run is None else run.public_id.int
    for key in run_keys:
        if key == current and run is not None:
            out[key] = (True, run.trigger_seq)  # the turn being answered
        elif (ended := _ended_runs.get(key)) is not None:
            out[key] = (True, ended[0])
        else:
            ids.append(uuid.UUID(int=key))
    if not ids:
        return out
    for public_id, pk, status, trigger, merged_pk, merged_trigger in Run.objects.filter(
        public_id__in=ids
    ).values_list(
        "public_id", "pk", "status", "trigger_seq", "merged_into_id", "merged_into__trigger_seq"
    ):
        group_pk = merged_pk or pk
        group_trigger = merged_trigger if merged_pk else trigger
        if run is not None and group_pk == run.pk:
            include = True
        else:
            include = status not in (Run.Status.QUEUED, Run.Status.RUNNING) and not (
                status == Run.Status.MERGED and merged_pk is None
            )
            if run is not None and status == Run.Status.MERGED and merged_pk is not None:
                include = True
        out[public_id.int] = (include, group_trigger)
        if status in _ENDED or (status == Run.Status.MERGED and merged_pk is not None):
            _ended_runs.set(public_id.int, (group_trigger,))
    return out


_ENDED = frozenset({Run.Status.SUCCEEDED, Run.Status.FAILED, Run.Status.ABORTED})


def _to_chat(role: str, content: Any, details: dict[str, Any]) -> ChatMessage:
    if role == Message.Role.TOOL:
        return ChatMessage(
            role="tool",
            tool_results=(
                ToolResult(
                    tool_call_id=str(details.get("toolCallId", "")),
                    name=str(details.get("toolName", "")),
                    content=_text(content),
                    is_error=bool(details.get("isError", False)),
                ),
            ),
        )
    if role == Message.Role.ASSISTANT:
        return ChatMessage(role="assistant", text=_text(content), tool_calls=_tool_calls(content))
    return ChatMessage(role="user", text=_text(content))


def repair(messages: list[ChatMessage]) -> list[ChatMessage]:
    """Pair every tool call with its result right after it; drop what cannot be paired.

    A call's result is looked for only among the tool messages that follow its assistant
    message, up to the next assistant message (ids can repeat across rounds: some
    OpenAI-compatible servers send none and get call_0, call_1... every time): by id
    first, else by position (the loop writes one result per call, in call order). A
    call without a result gets an explicit error result; messages that arrived in
    between (a steered user message) follow the results. Empty assistant entries (an
    abort before any text) and leading non-user entries are dropped.
    """
    out: list[ChatMessage] = []
    index = 0
    while index < len(messages):
        message = messages[index]
        index += 1
        if message.role == "tool":
            continue  # a result whose call is not in this history
        if message.role != "assistant":
            out.append(message)
            continue
        if not message.text and not message.tool_calls:
            continue
        out.append(message)
        if not message.tool_calls:
            continue
        results: list[ToolResult] = []
        between: list[ChatMessage] = []
        while index < len(messages) and messages[index].role != "assistant":
            if messages[index].role == "tool":
                results.extend(messages[index].tool_results)
            else:
                between.append(messages[index])
            index += 1
        out.append(ChatMessage(role="tool", tool_results=_pair(message.tool_calls, results)))
        out.extend(between)
    while out and out[0].role != "user":
        out.pop(0)
    return out


def _pair(calls: tuple[ToolCall, ...], results: list[ToolResult]) -> tuple[ToolResult, ...]:
    """Each call's result: the first unused one with its id, else the first unused one no
    call of this message claims by id (a cut or missing id); else an error result."""
    claimed = {call.id for call in calls}
    unused = list(results)
    paired = []
    for call in calls:
        match = next((r for r in unused if r.tool_call_id == call.id), None)
        if match is None:
            match = next((r for r in unused if r.tool_call_id not in claimed), None)
        if match is None:
            paired.append(ToolResult(call.id, call.name, INTERRUPTED_RESULT, is_error=True))
            continue
        unused.remove(match)
        paired.append(ToolResult(call.id, call.name, match.content, match.is_error))
    return tuple(paired)
