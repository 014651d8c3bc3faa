"""Write use-cases of the sessions app (one transaction each, events on commit).

- ``sessions``: create (and ``create``: sessions.create), append to the transcript, record a compaction, patch, reset,
  delete (and the ``sessions.changed`` / ``session.message`` announcements);
- ``settings``: OpenClaw's ``session.dmScope``, ``session.identityLinks``, ``session.reset``;
- ``inbound``: the session of an inbound channel message, started over when stale;
- ``transcripts``: a transcript written elsewhere (OpenClaw's JSONL) brought into a session.

Callers import from ``sessions_app.services``; the modules are its seams.
"""

from __future__ import annotations

from sessions_app.services.create import session_create
from sessions_app.services.inbound import session_for_inbound
from sessions_app.services.sessions import (
    LABEL_MAX_LENGTH,
    PATCHABLE_FIELDS,
    QUEUE_MODES,
    THINKING_LEVELS,
    SessionError,
    session_changed_announce,
    session_compaction_record,
    session_delete,
    session_get_or_create,
    session_lock,
    session_message_append,
    session_patch,
    session_reset,
)
from sessions_app.services.settings import (
    SessionSettingsError,
    session_settings_clean,
    session_settings_set,
)
from sessions_app.services.transcripts import (
    ImportedMessage,
    TranscriptImport,
    session_transcript_import,
)

__all__ = [
    "LABEL_MAX_LENGTH",
    "PATCHABLE_FIELDS",
    "QUEUE_MODES",
    "THINKING_LEVELS",
    "ImportedMessage",
    "SessionError",
    "SessionSettingsError",
    "TranscriptImport",
    "session_changed_announce",
    "session_compaction_record",
    "session_create",
    "session_delete",
    "session_for_inbound",
    "session_get_or_create",
    "session_lock",
    "session_message_append",
    "session_patch",
    "session_reset",
    "session_settings_clean",
    "session_settings_set",
    "session_transcript_import",
]
