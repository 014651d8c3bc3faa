"""Read use-cases of the sessions app: sessions.list rows, previews, transcripts.

Every selector runs a fixed number of queries whatever the number of sessions or
messages (no N+1): the last-message preview is a correlated subquery, per-session
previews use a window function.

**Reset boundary.** ``session_reset`` keeps the old transcript rows and stamps
``Session.last_reset_at``; readers here only see messages created after that instant
(``_after_reset``). The old rows stay for the admin and for audits.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict

from django.db.models import F, JSONField, OuterRef, Q, QuerySet, Subquery, Value, Window
from django.db.models.functions import Coalesce, RowNumber
from django.utils import timezone

from sessions_app.lib import keys
from sessions_app.models import Message, Session

HISTORY_DEFAULT_LIMIT = 200
HISTORY_MAX_LIMIT = 1000
LIST_MAX_LIMIT = 10_000
PREVIEW_MAX_CHARS = 240
PREVIEW_MAX_KEYS = 100
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PREVIEW_ROLES = (Message.Role.USER, Message.Role.ASSISTANT)


class SessionRow(TypedDict, total=False):
    """One sessions.list row (OpenClaw GatewaySessionRow); optional keys are left out."""

    key: str
    kind: str
    agentId: str | None
    label: str
    displayName: str
    channel: str
    chatType: str
    origin: dict[str, Any]
    createdAt: int
    updatedAt: int | None
    sessionId: str
    isMain: bool
    thinkingLevel: str
    inputTokens: int
    outputTokens: int
    totalTokens: int
    contextTokens: int | None
    model: str | None
    modelProvider: str | None
    lastMessagePreview: str | None


@dataclass(frozen=True)
class SessionsPage:
    rows: list[SessionRow]
    total_count: int
    limit_applied: int
    offset: int

    @property
    def next_offset(self) -> int | None:
        end = self.offset + len(self.rows)
        return end if end < self.total_count else None


@dataclass(frozen=True)
class ChatHistory:
    session_key: str
    session_id: str | None
    messages: list[dict[str, Any]]
    has_more: bool = False
    total_messages: int = 0
    last_seq: int = 0
    session: SessionRow | None = None


def to_ms(value: datetime | None) -> int | None:
    return int(value.timestamp() * 1000) if value is not None else None


def split_model_ref(ref: str | None) -> tuple[str | None, str | None]:
    """``openai/gpt-4o`` → (``openai``, ``gpt-4o``); blank → (None, None)."""
    if not ref:
        return None, None
    provider, _, model = ref.partition("/")
    return (provider, model) if model else (None, provider)


def message_text(content: Any) -> str:
    """The concatenated text blocks of a content list (or the string itself)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    return "".join(
        str(block.get("text", ""))
        for block in content
        if isinstance(block, dict) and block.get("type") == "text"
    )


def _truncate(text: str, max_chars: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def session_row(
    session: Session, *, default_model: str | None = None, preview: str | None = None
) -> SessionRow:
    """Shape one session as a sessions.list row (no query)."""
    provider, model = split_model_ref(session.model_override or default_model)
    row: SessionRow = {
        "key": session.key,
        "kind": keys.session_kind(session.key),
        "agentId": keys.parse_agent_id(session.key) or session.agent_slug or None,
        "createdAt": to_ms(session.created_at) or 0,
        "updatedAt": to_ms(session.last_activity_at or session.updated_at),
        "sessionId": str(session.session_id),
        "isMain": keys.is_main_key(session.key),
        "inputTokens": session.input_tokens,
        "outputTokens": session.output_tokens,
        "totalTokens": session.total_tokens,
        "contextTokens": session.context_tokens or None,
        "model": model,
        "modelProvider": provider,
    }
    if session.label:
        row["label"] = session.label
    if session.display_name:
        row["displayName"] = session.display_name
    if session.channel:
        row["channel"] = session.channel
    if session.chat_type:
        row["chatType"] = session.chat_type
    if session.origin:
        row["origin"] = session.origin
    if session.thinking_level:
        row["thinkingLevel"] = session.thinking_level
    if preview is not None:
        row["lastMessagePreview"] = preview or None
    return row


def _with_preview(queryset: QuerySet[Session]) -> QuerySet[Session]:
    """Annotate ``preview_content``: the last user/assistant message after the reset."""
    last = (
        Message.objects.filter(
            session=OuterRef("pk"),
            role__in=_PREVIEW_ROLES,
            created_at__gt=OuterRef("reset_boundary"),
        )
        .order_by("-seq")
        .values("content")[:1]
    )
    return queryset.annotate(
        reset_boundary=Coalesce("last_reset_at", Value(_EPOCH)),
        preview_content=Subquery(last, output_field=JSONField()),
    )


def _preview_of(session: Session) -> str:
    return _truncate(message_text(getattr(session, "preview_content", None)), PREVIEW_MAX_CHARS)


def sessions_list(
    *,
    agent_id: str | None = None,
    limit: int | None = None,
    offset: int = 0,
    active_minutes: int | None = None,
    label: str | None = None,
    search: str | None = None,
    include_global: bool = False,
    include_unknown: bool = False,
    include_last_message: bool = False,
    default_model: str | None = None,
    now: datetime | None = None,
) -> SessionsPage:
    """Return a page of sessions.list rows, most recently active first.

    One query, plus a count only when the page is not obviously the whole result.
    """
    queryset: QuerySet[Session] = Session.objects.all()
    if agent_id:
        queryset = queryset.filter(agent_slug=agent_id)
    if not include_global:
        queryset = queryset.exclude(key="global")
    if not include_unknown:
        queryset = queryset.exclude(key="unknown")
    if active_minutes:
        since = (now or timezone.now()) - timedelta(minutes=active_minutes)
        queryset = queryset.filter(last_activity_at__gte=since)
    if label:
        queryset = queryset.filter(label=label)
    if search:
        queryset = queryset.filter(
            Q(key__icontains=search)
            | Q(label__icontains=search)
            | Q(display_name__icontains=search)
        )
    bounded = max(1, min(limit or LIST_MAX_LIMIT, LIST_MAX_LIMIT))
    offset = max(0, offset)
    listed = queryset
    if include_last_message:
        listed = _with_preview(listed)
    listed = listed.order_by(F("last_activity_at").desc(nulls_last=True), "-pk")
    rows = [
        session_row(
            session,
            default_model=default_model,
            preview=_preview_of(session) if include_last_message else None,
        )
        for session in listed[offset : offset + bounded]
    ]
    whole = offset == 0 and len(rows) < bounded
    total = len(rows) if whole else queryset.count()
    return SessionsPage(rows=rows, total_count=total, limit_applied=bounded, offset=offset)


def session_describe(*, key: str, default_model: str | None = None) -> SessionRow | None:
    """Return the row of one session (with its last-message preview), or None (one query)."""
    session = _with_preview(Session.objects.filter(key=key)).first()
    if session is None:
        return None
    return session_row(session, default_model=default_model, preview=_preview_of(session))


def session_resolve(
    *,
    key: str | None = None,
    session_id: str | None = None,
    label: str | None = None,
    agent_id: str | None = None,
) -> str | None:
    """Return the key of the session named by key, sessionId or label, or None (one query)."""
    queryset = Session.objects.all()
    if agent_id:
        queryset = queryset.for_agent(agent_id)
    if key:
        queryset = queryset.filter(key=key)
    elif session_id:
        try:
            queryset = queryset.filter(session_id=uuid.UUID(session_id))
        except ValueError:
            return None
    elif label:
        queryset = queryset.filter(label=label).order_by(
            F("last_activity_at").desc(nulls_last=True)
        )
    else:
        return None
    return queryset.values_list("key", flat=True).first()


def _after_reset() -> Q:
    """Messages of the current conversation: created after the session's last reset."""
    return Q(session__last_reset_at__isnull=True) | Q(created_at__gt=F("session__last_reset_at"))


def wire_message(message: Message) -> dict[str, Any]:
    """Shape a transcript row like OpenClaw's chat.history / session.message entries.

    A user message made only of text travels as a plain string, as OpenClaw 2026.9.6
    sends it; anything else keeps its content blocks.
    """
    content: Any = message.content
    if message.role == Message.Role.USER and all(
        isinstance(block, dict) and block.get("type") == "text" for block in content or []
    ):
        content = message_text(content)
    wire: dict[str, Any] = {
        "role": "toolResult" if message.role == Message.Role.TOOL else str(message.role),
        "content": content,
        "timestamp": to_ms(message.created_at),
    }
    if message.role == Message.Role.TOOL:
        # OpenClaw's toolResult entry: {role, toolCallId, toolName, content, isError}.
        details = message.details or {}
        wire["toolCallId"] = details.get("toolCallId", "")
        wire["toolName"] = details.get("toolName", "")
        wire["isError"] = bool(details.get("isError", False))
    elif message.role == Message.Role.COMPACTION:
        wire["summary"] = message_text(content)
        for key in ("firstKeptSeq", "tokensBefore"):
            if key in (message.details or {}):
                wire[key] = message.details[key]
    if message.role == Message.Role.ASSISTANT:
        provider, model = split_model_ref(message.model)
        if provider:
            wire["provider"] = provider
        if model:
            wire["model"] = model
        if message.usage:
            wire["usage"] = message.usage
        wire["stopReason"] = message.stop_reason or "stop"
    meta: dict[str, Any] = {"id": str(message.pk), "seq": message.seq}
    if message.idempotency_key:
        wire["idempotencyKey"] = meta["idempotencyKey"] = message.idempotency_key
    if message.run_public_id is not None:
        meta["runPublicId"] = str(message.run_public_id)
    wire["__openclaw"] = meta
    return wire


def chat_history(
    *,
    key: str,
    limit: int = HISTORY_DEFAULT_LIMIT,
    after: tuple[str, int] | None = None,
    default_model: str | None = None,
) -> ChatHistory:
    """Return the last ``limit`` (1..1000) messages of the current conversation.

    ``after`` is a delta cursor (sessionId, seq): while the session still has that
    sessionId (no reset since), only the messages after that seq are returned, oldest
    first. An unknown key is an empty history, as in OpenClaw (the first chat.send
    creates the session). Two queries, three when the page does not hold them all.
    """
    limit = max(1, min(limit, HISTORY_MAX_LIMIT))
    session = Session.objects.filter(key=key).first()
    if session is None:
        return ChatHistory(session_key=key, session_id=None, messages=[])
    after_seq = after[1] if after and after[0] == str(session.session_id) else None
    current = Message.objects.filter(_after_reset(), session_id=session.pk)
    if after_seq is not None:
        rows = list(current.filter(seq__gt=after_seq).order_by("seq")[: limit + 1])
        has_more = len(rows) > limit
        rows = rows[:limit]
    else:
        rows = list(current.order_by("-seq")[: limit + 1])
        has_more = len(rows) > limit
        rows = rows[:limit]
        rows.reverse()
    total = current.count() if has_more or after_seq is not None else len(rows)
    return ChatHistory(
        session_key=key,
        session_id=str(session.session_id),
        messages=[wire_message(row) for row in rows],
        has_more=has_more,
        total_messages=total,
        last_seq=rows[-1].seq if rows else (after_seq or 0),
        session=session_row(session, default_model=default_model),
    )


def sessions_preview(
    *, keys_: Sequence[str], limit: int = 12, max_chars: int = PREVIEW_MAX_CHARS
) -> list[dict[str, Any]]:
    """Return sessions.preview entries in the order asked (two queries for any number of keys)."""
    wanted = list(dict.fromkeys(keys_))[:PREVIEW_MAX_KEYS]
    limit = max(1, min(limit, 100))
    max_chars = max(20, max_chars)
    found = dict(Session.objects.filter(key__in=wanted).values_list("key", "pk"))
    items: dict[int, list[dict[str, str]]] = {pk: [] for pk in found.values()}
    if found:
        ranked = (
            Message.objects.filter(_after_reset(), session_id__in=list(found.values()))
            .annotate(
                rank=Window(RowNumber(), partition_by=F("session_id"), order_by=F("seq").desc())
            )
            .filter(rank__lte=limit)
            .order_by("session_id", "seq")
            .values_list("session_id", "role", "content")
        )
        for session_pk, role, content in ranked:
            items[session_pk].append(
                {"role": _preview_role(role), "text": _truncate(message_text(content), max_chars)}
            )
    previews: list[dict[str, Any]] = []
    for key in wanted:
        pk = found.get(key)
        if pk is None:
            previews.append({"key": key, "status": "missing", "items": []})
        else:
            previews.append(
                {"key": key, "status": "ok" if items[pk] else "empty", "items": items[pk]}
            )
    return previews


def _preview_role(role: str) -> str:
    if role in ("user", "assistant", "system"):
        return role
    return "tool" if role == Message.Role.TOOL else "other"


def run_reply(*, run_public_id: uuid.UUID) -> str | None:
    """Return the text of the assistant message a run wrote, or None (one query)."""
    content = (
        Message.objects.filter(run_public_id=run_public_id, role=Message.Role.ASSISTANT)
        .order_by("-seq")
        .values_list("content", flat=True)
        .first()
    )
    return None if content is None else message_text(content)
