"""Sessions and transcripts: create, append to the transcript, patch, reset, delete.

Every write announces itself on commit through ``core.events`` (never before: a client
that reacts reads committed rows):

- ``sessions.changed`` ``{sessionKey, agentId, reason, ts, session?}`` (``session`` is
  the sessions.list row; absent after a delete), scoped to the session's key;
- ``session.message`` ``{sessionKey, agentId, message, messageId, messageSeq}`` for
  each appended transcript message.

Keys given to these services must already be canonical (``sessions_app.lib.keys``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from django.db import connection, models, transaction
from django.db.models import F
from django.utils import timezone

from core import events
from core.clock import now_ms
from sessions_app.lib import keys
from sessions_app.models import ChatType, Message, Session
from sessions_app.wire import session_row, wire_message

THINKING_LEVELS = frozenset({"off", "minimal", "low", "medium", "high", "xhigh"})
# sessions.patch wire name → Session field. Other OpenClaw toggles are not stored yet.
PATCHABLE_FIELDS = {
    "label": "label",
    "thinkingLevel": "thinking_level",
    "model": "model_override",
    "queueMode": "queue_mode",
}
# OpenClaw queue modes (steer-backlog and the legacy "queue" are not offered).
QUEUE_MODES = frozenset({"collect", "followup", "steer", "interrupt"})
LABEL_MAX_LENGTH = 100


class SessionError(Exception):
    """A session write that cannot be done; the message says what to do instead."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _changed_payload(
    session: Session, *, reason: str | None, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    row: dict[str, Any] = dict(session_row(session))
    # This app does not know the agent's default model; leave it out rather than say null.
    for name in ("model", "modelProvider"):
        if row.get(name) is None:
            row.pop(name, None)
    payload: dict[str, Any] = {
        "sessionKey": session.key,
        "agentId": keys.parse_agent_id(session.key) or session.agent_slug,
    }
    if reason is not None:
        payload["reason"] = reason
    payload.update(extra or {})
    payload["ts"] = now_ms()
    payload["session"] = row
    return payload


def _publish_on_commit(event: str, payload: dict[str, Any], *, session_key: str) -> None:
    transaction.on_commit(
        lambda: events.publish(event, payload, session_key=session_key),
    )


def session_changed_announce(
    *, session: Session, reason: str | None = None, extra: Mapping[str, Any] | None = None
) -> None:
    """Publish ``sessions.changed`` for ``session`` once the current transaction commits."""
    _publish_on_commit(
        "sessions.changed",
        _changed_payload(session, reason=reason, extra=extra),
        session_key=session.key,
    )


def session_lock(*, session_pk: int) -> None:
    """Lock the session's row until the transaction ends (PostgreSQL; SQLite serializes
    write transactions anyway). The agent runtime serializes the claims and endings of
    one session's runs on it, so a run that ends always kicks the next one."""
    if connection.features.has_select_for_update:
        Session.objects.select_for_update().filter(pk=session_pk).values_list("pk").first()


# No savepoint: nested in a caller's transaction this runs on every turn, and nothing in
# it recovers from an error (get_or_create's creation race has its own savepoint). An
# error leaving it rolls back the caller's transaction, or the caller's savepoint.
@transaction.atomic(savepoint=False)
def session_get_or_create(
    *,
    key: str,
    agent_slug: str | None = None,
    channel: str | None = None,
    account_id: str = "",
    peer_kind: str = "",
    peer_id: str = "",
    origin: Mapping[str, Any] | None = None,
    display_name: str = "",
    chat_type: str | None = None,
) -> tuple[Session, bool]:
    """Return the session with this canonical key, creating it on first use.

    The agent defaults to the key's ``agent:<id>:`` and the channel and chat type to
    what the key's shape says; a channel message passes its own (a ``main`` or
    ``per-peer`` DM key names no channel). Publishes ``sessions.changed`` (reason ``create``) on
    commit when it creates one. Concurrent first uses are safe (unique key).
    """
    agent = agent_slug or keys.parse_agent_id(key) or keys.DEFAULT_AGENT_ID
    try:  # the common case, one query (.get: a unique key needs no ORDER BY)
        return Session.objects.get(key=key), False
    except Session.DoesNotExist:
        pass
    session, created = Session.objects.get_or_create(
        key=key,
        defaults={
            "agent_slug": agent,
            "channel": (keys.key_channel(key) or "") if channel is None else channel,
            "account_id": account_id,
            "peer_kind": peer_kind if peer_id else "",
            "peer_id": peer_id if peer_kind else "",
            "chat_type": chat_type or keys.chat_type(key) or ChatType.DIRECT,
            "origin": dict(origin or {}),
            "display_name": display_name,
        },
    )
    if created:
        session_changed_announce(session=session, reason="create")
    return session, created


def _next_seq(session_pk: int, updates: Mapping[str, Any]) -> int | None:
    """Bump the session's ``last_seq`` (and set ``updates``); return the new seq.

    One ``UPDATE … RETURNING`` (SQLite ≥ 3.35 and PostgreSQL) instead of an update and
    a select: this runs twice per turn.
    """
    columns = ['"last_seq" = "last_seq" + 1']
    params: list[Any] = []
    for name, value in updates.items():
        if name == "last_seq":
            continue
        field = Session._meta.get_field(name)
        assert isinstance(field, models.Field)  # concrete columns only
        columns.append(f'"{field.column}" = %s')
        params.append(field.get_db_prep_save(value, connection=connection))
    params.append(session_pk)
    # Table and column names come from the model, values are parameters.
    sql = (
        f'UPDATE "{Session._meta.db_table}" SET {", ".join(columns)} '  # noqa: S608
        'WHERE "id" = %s RETURNING "last_seq"'
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else int(row[0])


def session_message_append(
    *,
    session: Session,
    role: str,
    content: list[dict[str, Any]],
    run_public_id: uuid.UUID | None = None,
    model: str = "",
    usage: Mapping[str, int] | None = None,
    stop_reason: str = "",
    changed_reason: str | None = "message",
    idempotency_key: str = "",
    details: Mapping[str, Any] | None = None,
) -> Message:
    """Append a message to the session's transcript and return it.

    The seq comes from ``UPDATE … SET last_seq = last_seq + 1`` in this transaction, so
    concurrent appends serialize on the session row and seqs never repeat or skip. An
    assistant message's ``usage`` (``input``/``output``/``totalTokens``) becomes the
    session's token counters (OpenClaw reports the last turn's usage, not a sum).
    Publishes ``session.message`` and, unless ``changed_reason`` is None,
    ``sessions.changed`` on commit. ``session`` is updated in place.
    """
    if role not in Message.Role.values:
        raise SessionError(f"unknown message role {role!r}; use one of {Message.Role.values}")
    now = timezone.now()
    updates: dict[str, Any] = {"last_seq": F("last_seq") + 1, "last_activity_at": now}
    if usage:
        input_tokens = int(usage.get("input", 0))
        output_tokens = int(usage.get("output", 0))
        updates.update(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            total_tokens=int(usage.get("totalTokens", input_tokens + output_tokens)),
        )
    # No savepoint (this runs twice per turn, nested in the caller's transaction): an
    # error rolls back the caller's transaction, or its own savepoint when it has one to
    # recover with (agents' run_start, around this append and its run). A gone session
    # writes nothing and is refused after the block, leaving the caller's usable.
    with transaction.atomic(savepoint=False):
        seq = _next_seq(session.pk, updates)
        message = (
            None
            if seq is None
            else Message.objects.create(
                session=session,
                seq=seq,
                role=role,
                content=content,
                run_public_id=run_public_id,
                model=model,
                usage=dict(usage or {}),
                stop_reason=stop_reason,
                idempotency_key=idempotency_key,
                details=dict(details or {}),
                created_at=now,
            )
        )
    if seq is None or message is None:
        raise SessionError(f"session {session.key} no longer exists")
    session.last_seq = seq
    session.last_activity_at = now
    for name, value in updates.items():
        if name not in ("last_seq", "last_activity_at"):
            setattr(session, name, value)
    _publish_on_commit(
        "session.message",
        {
            "sessionKey": session.key,
            "agentId": keys.parse_agent_id(session.key) or session.agent_slug,
            "message": wire_message(message),
            "messageId": str(message.pk),
            "messageSeq": seq,
        },
        session_key=session.key,
    )
    if changed_reason is not None:
        session_changed_announce(session=session, reason=changed_reason)
    return message


@transaction.atomic
def session_compaction_record(
    *,
    session: Session,
    summary: str,
    model: str,
    first_kept_seq: int,
    tokens_before: int,
    tokens_after: int,
    summarized: int,
    kept: int = 0,
    request_id: str = "",
) -> Message:
    """Append a ``compaction`` entry (the summary of older turns) and count it.

    ``firstKeptSeq`` marks where the verbatim history resumes; nothing is deleted. A
    compaction asked for by ``sessions.compact`` keeps its ``requestId``, so the waiting
    caller can find its outcome in the database if the worker's reply event is lost.
    ``session.compaction_count`` is bumped in the database and in the caller's copy (its
    next prompt looks for the entry). Publishes ``session.message`` and
    ``sessions.changed`` (reason ``compact``) on commit.
    """
    message = session_message_append(
        session=session,
        role="compaction",
        content=[{"type": "text", "text": summary}],
        model=model,
        changed_reason=None,
        details={
            "firstKeptSeq": first_kept_seq,
            "tokensBefore": tokens_before,
            "tokensAfter": tokens_after,
            "summarized": summarized,
            "kept": kept,
            **({"requestId": request_id} if request_id else {}),
        },
    )
    Session.objects.filter(pk=session.pk).update(compaction_count=F("compaction_count") + 1)
    session.compaction_count += 1
    session_changed_announce(session=session, reason="compact")
    return message


def _validate_patch(changes: Mapping[str, str | None]) -> dict[str, str]:
    cleaned: dict[str, str] = {}
    for field, value in changes.items():
        if field not in PATCHABLE_FIELDS.values():
            raise SessionError(
                f"cannot patch {field!r}; patchable fields are {sorted(PATCHABLE_FIELDS)}"
            )
        text = (value or "").strip()
        if field == "label" and len(text) > LABEL_MAX_LENGTH:
            raise SessionError(f"label is longer than {LABEL_MAX_LENGTH} characters; shorten it")
        if field == "thinking_level" and text and text not in THINKING_LEVELS:
            raise SessionError(
                f"thinkingLevel {text!r} is not one of {sorted(THINKING_LEVELS)} (or null)"
            )
        if field == "queue_mode" and text and text not in QUEUE_MODES:
            raise SessionError(
                f"queueMode {text!r} is not one of {sorted(QUEUE_MODES)} (or null for the default)"
            )
        if field == "model_override" and text and "/" not in text:
            raise SessionError(f"model {text!r} is not provider/model, e.g. openai/gpt-4o-mini")
        cleaned[field] = text
    return cleaned


@transaction.atomic
def session_patch(*, key: str, changes: Mapping[str, str | None]) -> Session:
    """Set or clear (None) label, thinking level or model override; create the session if new.

    ``changes`` is keyed by Session field name (see ``PATCHABLE_FIELDS``). Publishes
    ``sessions.changed`` (reason ``patch``) on commit.
    """
    cleaned = _validate_patch(changes)
    session, _ = session_get_or_create(key=key)
    for field, value in cleaned.items():
        setattr(session, field, value)
    session.save(update_fields=[*cleaned, "updated_at"])
    session_changed_announce(session=session, reason="patch")
    return session


@transaction.atomic
def session_reset(*, key: str, reason: str = "reset") -> Session:
    """Start the session over: a new sessionId and token counters at 0.

    Label, model override and toggles carry over. The old transcript is kept, not
    deleted: ``last_reset_at`` marks the boundary and chat.history, previews and prompts
    only read messages created after it (``sessions_app.selectors``). Seqs keep
    increasing across the boundary. Publishes ``sessions.changed`` with ``reason``.
    """
    session, _ = session_get_or_create(key=key)
    now = timezone.now()
    session.session_id = uuid.uuid4()
    session.input_tokens = 0
    session.output_tokens = 0
    session.total_tokens = 0
    session.context_tokens = 0
    session.compaction_count = 0
    session.last_reset_at = now
    session.last_activity_at = now
    session.save(
        update_fields=[
            "session_id",
            "input_tokens",
            "output_tokens",
            "total_tokens",
            "context_tokens",
            "compaction_count",
            "last_reset_at",
            "last_activity_at",
            "updated_at",
        ]
    )
    session_changed_announce(session=session, reason=reason)
    return session


@transaction.atomic
def session_delete(*, key: str) -> bool:
    """Delete a session with its transcript and runs; return False if there was none.

    An agent's main session cannot be deleted (OpenClaw's rule): reset it instead.
    Publishes ``sessions.changed`` (reason ``delete``, no ``session`` row) on commit.
    """
    if keys.is_main_key(key):
        raise SessionError(
            f"{key} is the agent's main session and cannot be deleted; "
            "use sessions.reset to start it over"
        )
    session = Session.objects.filter(key=key).first()
    if session is None:
        return False
    agent_id = keys.parse_agent_id(key) or session.agent_slug
    session.delete()
    _publish_on_commit(
        "sessions.changed",
        {"sessionKey": key, "agentId": agent_id, "reason": "delete", "ts": now_ms()},
        session_key=key,
    )
    return True
