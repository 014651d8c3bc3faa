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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from django.db.models import F, JSONField, OuterRef, Q, QuerySet, Subquery, Value, Window
from django.db.models.functions import Coalesce, RowNumber
from django.utils import timezone

from core.ttlcache import TTLCache
from sessions_app.lib import keys
from sessions_app.lib.reset import ResetPolicy
from sessions_app.models import Message, Session, SessionSettings
from sessions_app.wire import (
    SessionRow,
    message_text,
    preview_role,
    session_row,
    split_model_ref,
    to_ms,
    truncate,
    wire_message,
)

# The wire shapes moved to sessions_app.wire; callers still import them from here.
__all__ = [
    "HISTORY_DEFAULT_LIMIT",
    "HISTORY_MAX_LIMIT",
    "LIST_MAX_LIMIT",
    "PREVIEW_MAX_CHARS",
    "PREVIEW_MAX_KEYS",
    "ChatHistory",
    "SessionRow",
    "SessionSettingsData",
    "SessionsPage",
    "chat_history",
    "message_text",
    "run_reply",
    "session_describe",
    "session_resolve",
    "session_row",
    "session_settings",
    "session_settings_forget",
    "session_settings_of",
    "sessions_active_between",
    "sessions_list",
    "sessions_preview",
    "split_model_ref",
    "to_ms",
    "wire_message",
]

HISTORY_DEFAULT_LIMIT = 200
HISTORY_MAX_LIMIT = 1000
LIST_MAX_LIMIT = 10_000
PREVIEW_MAX_CHARS = 240
PREVIEW_MAX_KEYS = 100
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PREVIEW_ROLES = (Message.Role.USER, Message.Role.ASSISTANT)


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
    return truncate(message_text(getattr(session, "preview_content", None)), PREVIEW_MAX_CHARS)


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


def chat_history(
    *,
    key: str,
    limit: int = HISTORY_DEFAULT_LIMIT,
    after: tuple[str, int] | None = None,
    default_model: str | None = None,
    offset: int = 0,
) -> ChatHistory:
    """Return the last ``limit`` (1..1000) messages of the current conversation.

    ``offset`` skips that many of the newest messages first (OpenClaw's paging back:
    a page's ``nextOffset`` is the offset of the page before it). ``after`` is a delta cursor (sessionId, seq): while the session still has that
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
        offset = max(0, offset)
        rows = list(current.order_by("-seq")[offset : offset + limit + 1])
        has_more = len(rows) > limit
        rows = rows[:limit]
        rows.reverse()
    exact = not (has_more or after_seq is not None or offset)
    total = len(rows) if exact else current.count()
    return ChatHistory(
        session_key=key,
        session_id=str(session.session_id),
        messages=[wire_message(row) for row in rows],
        has_more=has_more,
        total_messages=total,
        last_seq=rows[-1].seq if rows else (after_seq or 0),
        session=session_row(session, default_model=default_model),
    )


def sessions_active_between(
    *, since: datetime, until: datetime, limit: int = 1000, key: str | None = None
) -> list[Session]:
    """Sessions last active in [since, until), most recent first (one query; token counts
    are the session's counters since its last reset)."""
    queryset = Session.objects.filter(last_activity_at__gte=since, last_activity_at__lt=until)
    if key is not None:
        queryset = queryset.filter(key=key)
    return list(queryset.order_by("-last_activity_at", "-pk")[: max(1, min(limit, 1000))])


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
                {"role": preview_role(role), "text": truncate(message_text(content), max_chars)}
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


def run_reply(*, run_public_id: uuid.UUID) -> str | None:
    """Return the text of the assistant message a run wrote, or None (one query)."""
    content = (
        Message.objects.filter(run_public_id=run_public_id, role=Message.Role.ASSISTANT)
        .order_by("-seq")
        .values_list("content", flat=True)
        .first()
    )
    return None if content is None else message_text(content)


def compaction_details(*, session_key: str, request_id: str) -> dict[str, Any] | None:
    """The details of the compaction entry ``sessions.compact`` request ``request_id``
    wrote (``kept``, ``summarized``, ``tokensBefore``, ``tokensAfter``), or None."""
    details = (
        Message.objects.filter(
            session__key=session_key,
            role=Message.Role.COMPACTION,
            details__requestId=request_id,
        )
        .values_list("details", flat=True)
        .first()
    )
    return dict(details) if isinstance(details, dict) else None


# --- session settings (OpenClaw session.dmScope / identityLinks / reset) -------------------
@dataclass(frozen=True)
class SessionSettingsData:
    """The session settings as the inbound path reads them (defaults without a row)."""

    dm_scope: str = keys.DM_SCOPES[0]
    identity_links: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    reset: ResetPolicy = field(default_factory=ResetPolicy)


def session_settings_of(row: SessionSettings) -> SessionSettingsData:
    """The frozen view of a settings row."""
    links = row.identity_links if isinstance(row.identity_links, dict) else {}
    return SessionSettingsData(
        dm_scope=row.dm_scope,
        identity_links=MappingProxyType(
            {
                str(name): tuple(str(i) for i in ids)
                for name, ids in links.items()
                if isinstance(ids, list)
            }
        ),
        reset=ResetPolicy(
            mode=row.reset_mode, at_hour=row.reset_at_hour, idle_minutes=row.reset_idle_minutes
        ),
    )


def _load_session_settings() -> SessionSettingsData:
    row = SessionSettings.objects.filter(pk=SessionSettings.SINGLETON_PK).first()
    return SessionSettingsData() if row is None else session_settings_of(row)


# Read for every inbound channel message; a save in this process clears it at once
# (the service on commit, the app's signals), one made by another process (``manage.py
# config set``) applies within SESSION_SETTINGS_CACHE_S.
SESSION_SETTINGS_CACHE_S = 5.0
_settings_cache: TTLCache[int, SessionSettingsData] = TTLCache(
    "sessions.settings", ttl_s=SESSION_SETTINGS_CACHE_S, max_entries=1
)


def session_settings_forget(*args: object, **kwargs: object) -> None:
    """Forget the cached settings (a post_save/post_delete receiver for SessionSettings)."""
    _settings_cache.clear()


def session_settings() -> SessionSettingsData:
    """``session.dmScope``, ``session.identityLinks`` and ``session.reset``; cached."""
    return _settings_cache.get_or_load(SessionSettings.SINGLETON_PK, _load_session_settings)
