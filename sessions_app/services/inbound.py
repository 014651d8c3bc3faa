"""The session an inbound channel message goes to, started over first when it is stale.

OpenClaw evaluates the reset policy (``session.reset``: daily at ``atHour``, idle after
``idleMinutes``; a session's own reset fields override it) on the next inbound message,
not by a timer (reference spec §4.2; ``sessions_app.lib.reset``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from sessions_app.lib import reset as reset_lib
from sessions_app.models import ChatType, Session
from sessions_app.selectors import session_settings
from sessions_app.services.sessions import SessionError, session_get_or_create, session_reset


def session_reset_policy(session: Session) -> reset_lib.ResetPolicy:
    """The configured ``session.reset`` with the session's own overrides applied."""
    return reset_lib.effective_policy(
        session_settings().reset,
        mode=session.reset_mode,
        at_hour=session.reset_at_hour,
        idle_minutes=session.reset_idle_minutes,
    )


def session_for_inbound(
    *,
    key: str,
    agent_slug: str,
    channel: str,
    account_id: str,
    peer_kind: str,
    peer_id: str,
    chat_type: str,
    display_name: str = "",
    origin: Mapping[str, Any] | None = None,
) -> tuple[Session, bool]:
    """Return ``(session, reset)``: the session with this canonical key, created on first
    use, and reset first (reason ``daily`` or ``idle``) when the policy says it is stale.

    The session's clock is its last activity (a reset counts as one); a session that
    never had any is fresh. Dates are judged in the gateway's time zone (TZ).
    """
    if chat_type not in ChatType.values:
        raise SessionError(f"chat type {chat_type!r} is not one of {', '.join(ChatType.values)}")
    # No savepoint: the inbox calls this in its transaction, and nothing here is caught
    # and recovered from (a refusal is raised above, before the block).
    with transaction.atomic(savepoint=False):
        session, created = session_get_or_create(
            key=key,
            agent_slug=agent_slug,
            channel=channel,
            account_id=account_id,
            peer_kind=peer_kind,
            peer_id=peer_id,
            origin=origin,
            display_name=display_name,
            chat_type=chat_type,
        )
        if created:
            return session, False
        freshness = reset_lib.evaluate(
            last_activity=session.last_activity_at or session.last_reset_at,
            now=timezone.now(),
            tz=ZoneInfo(settings.TIME_ZONE),
            policy=session_reset_policy(session),
        )
        if not freshness.stale:
            return session, False
        return session_reset(key=key, reason=freshness.reason), True
