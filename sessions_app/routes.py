"""Where an agent's chats are: OpenClaw's delivery channel ``last`` (read-only)."""

from __future__ import annotations

from collections.abc import Mapping

from django.db.models import F

from sessions_app.lib import keys
from sessions_app.models import Session


def session_last_route(*, agent_slug: str, key: str = "") -> dict[str, str] | None:
    """Where a channel chat of this agent is: ``{channel, accountId, chatId}``, or None.

    The session ``key`` when it came from a chat, else the agent's chat session active
    last (OpenClaw's delivery channel ``last``). Two queries at most.
    """
    rows = Session.objects.exclude(channel="").filter(origin__has_key="chatId")
    origin = None
    if key:
        origin = rows.filter(key=key).values_list("origin", flat=True).first()
    if origin is None:
        origin = (
            rows.filter(agent_slug=agent_slug)
            .order_by(F("last_activity_at").desc(nulls_last=True), "-pk")
            .values_list("origin", flat=True)
            .first()
        )
    if not isinstance(origin, Mapping) or not origin.get("chatId") or not origin.get("channel"):
        return None
    return {
        "channel": str(origin["channel"]),
        "accountId": str(origin.get("accountId") or keys.DEFAULT_ACCOUNT_ID),
        "chatId": str(origin["chatId"]),
    }
