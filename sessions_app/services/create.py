"""``sessions.create``: a new conversation, optionally labelled and on its own model."""

from __future__ import annotations

from django.db import transaction

from sessions_app.models import Session
from sessions_app.services.sessions import SessionError, session_get_or_create, session_patch


@transaction.atomic
def session_create(
    *, key: str, label: str | None = None, model: str | None = None, parent_key: str | None = None
) -> tuple[Session, bool]:
    """Create the session with this canonical key (or take the existing one); return it and
    whether it is new.

    ``label`` and ``model`` are set as ``sessions.patch`` sets them (same validation). A
    ``parent_key`` must name an existing session (OpenClaw's "unknown parent session").
    Publishes ``sessions.changed`` (``create``, then ``patch`` when label or model is
    given) on commit.
    """
    if parent_key is not None and not Session.objects.filter(key=parent_key).exists():
        raise SessionError(f"unknown parent session: {parent_key}")
    session, created = session_get_or_create(key=key)
    changes = {
        field: value
        for field, value in (("label", label), ("model_override", model))
        if value is not None
    }
    if changes:
        session = session_patch(key=key, changes=changes)
    return session, created
