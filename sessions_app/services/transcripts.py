"""Bring a transcript written elsewhere (OpenClaw's JSONL sessions) into a session.

``session_transcript_import`` creates the session if needed and appends the messages it
does not have yet, recognised by the id each had in its source
(``details.importedEntryId``): importing the same transcript again appends nothing and
changes nothing. Messages keep their original times; seqs continue the session's own.
A compaction entry's ``firstKeptEntryId`` becomes the ``firstKeptSeq`` the runtime reads.
One ``sessions.changed`` is published on commit (not one event per message).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from sessions_app.models import ChatType, Message, Session
from sessions_app.services.sessions import (
    SessionError,
    session_changed_announce,
    session_get_or_create,
    session_lock,
)

ENTRY_ID = "importedEntryId"
# Session fields an import may set (as the source had them) when it creates the session.
SESSION_FIELDS = (
    "channel",
    "account_id",
    "chat_type",
    "origin",
    "label",
    "display_name",
    "model_override",
    "thinking_level",
    "queue_mode",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "context_tokens",
    "compaction_count",
)


@dataclass(frozen=True)
class ImportedMessage:
    entry_id: str
    role: str
    content: list[dict[str, Any]]
    created_at: datetime | None = None
    model: str = ""
    usage: Mapping[str, Any] = field(default_factory=dict)
    stop_reason: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TranscriptImport:
    session: Session
    created: bool
    appended: int


def _existing_ids(session: Session) -> dict[str, int]:
    rows = Message.objects.filter(session=session, details__has_key=ENTRY_ID).values_list(
        "details", "seq"
    )
    return {str(details[ENTRY_ID]): seq for details, seq in rows}


def _new_session(
    key: str, agent_slug: str, session_id: uuid.UUID | None, fields: Mapping[str, Any]
) -> Session:
    unknown = set(fields) - set(SESSION_FIELDS)
    if unknown:
        raise SessionError(f"cannot import session fields {sorted(unknown)}")
    session, _ = session_get_or_create(
        key=key,
        agent_slug=agent_slug,
        channel=str(fields.get("channel") or "") or None,
        account_id=str(fields.get("account_id") or ""),
        chat_type=str(fields.get("chat_type") or "") or None,
    )
    values = dict(fields)
    if values.get("chat_type") not in ChatType.values:
        values.pop("chat_type", None)
    if session_id is not None and not Session.objects.filter(session_id=session_id).exists():
        values["session_id"] = session_id
    for name, value in values.items():
        setattr(session, name, value)
    session.full_clean(exclude=["key"])
    session.save()
    return session


@transaction.atomic
def session_transcript_import(
    *,
    key: str,
    agent_slug: str,
    messages: Sequence[ImportedMessage],
    session_id: uuid.UUID | None = None,
    fields: Mapping[str, Any] | None = None,
    last_activity_at: datetime | None = None,
) -> TranscriptImport:
    """Import one transcript into the session ``key`` (canonical); see the module docstring.

    ``fields`` (``SESSION_FIELDS``) and ``session_id`` are applied only when the session
    is created here; an existing session keeps its own.
    """
    for message in messages:
        if message.role not in Message.Role.values:
            raise SessionError(f"{key}: unknown message role {message.role!r}")
    existing = Session.objects.filter(key=key).first()
    created = existing is None
    session = existing or _new_session(key, agent_slug, session_id, fields or {})
    session_lock(session_pk=session.pk)
    seqs = _existing_ids(session)
    new = [m for m in messages if m.entry_id not in seqs]
    if not new and not created:
        return TranscriptImport(session, created=False, appended=0)
    base = Session.objects.values_list("last_seq", flat=True).get(pk=session.pk)
    for offset, message in enumerate(new, start=1):
        seqs[message.entry_id] = base + offset
    now = timezone.now()
    rows = []
    for offset, message in enumerate(new, start=1):
        details = {**message.details, ENTRY_ID: message.entry_id}
        first_kept = details.pop("firstKeptEntryId", None)
        if message.role == Message.Role.COMPACTION and first_kept in seqs:
            details["firstKeptSeq"] = seqs[first_kept]
        rows.append(
            Message(
                session=session,
                seq=base + offset,
                role=message.role,
                content=list(message.content),
                model=message.model[:200],
                usage=dict(message.usage),
                stop_reason=message.stop_reason[:32],
                details=details,
                created_at=message.created_at or now,
            )
        )
    Message.objects.bulk_create(rows)
    latest = max((r.created_at for r in rows), default=None)
    activity = max(filter(None, (last_activity_at, latest, session.last_activity_at)), default=None)
    Session.objects.filter(pk=session.pk).update(
        last_seq=F("last_seq") + len(rows), last_activity_at=activity
    )
    session.refresh_from_db()
    session_changed_announce(session=session, reason="create" if created else "message")
    return TranscriptImport(session, created=created, appended=len(rows))
