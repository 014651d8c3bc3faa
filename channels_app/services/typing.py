"""The typing indicator while a channel message's run is running.

The channel sweep (``channels.sweep``, every 4 s) finds the channel runs
that have been running for at least ``TYPING_AFTER_S`` and shows the indicator in each
one's chat (Telegram shows it for 5 s, or until the bot's next message). A turn that
answers within a second never shows one (it would linger after the reply), and no
timer per message is queued: a burst of messages costs the broker nothing extra. Best
effort: an error is logged and the next tick tries again.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import current_app
from django.utils import timezone

from agents.selectors import channel_runs_running
from channels_app.connectors.base import ConnectorError, Destination
from channels_app.connectors.registry import connector_for
from channels_app.models import ChannelAccount
from channels_app.services.accounts import account_config

logger = logging.getLogger(__name__)

TYPING_AFTER_S = 1.0
TYPING_SEND_TASK = "channels.typing_send"


def typing_tick() -> int:
    """Queue one indicator per chat with a channel run running; return how many."""
    since = timezone.now() - timedelta(seconds=TYPING_AFTER_S)
    chats = {
        (str(to.get("channel")), str(to.get("accountId") or "default"), str(to["chatId"]),
         str(to.get("threadId") or ""))
        for to in channel_runs_running(started_before=since)
        if to.get("chatId") and to.get("channel")
    }  # fmt: skip
    for chat in sorted(chats):
        current_app.send_task(TYPING_SEND_TASK, args=list(chat))
    return len(chats)


def typing_send(*, kind: str, account_id: str, chat_id: str, thread_id: str) -> bool:
    """Show the indicator in one chat; False if the account or the platform refused."""
    account = ChannelAccount.objects.enabled().filter(kind=kind, account_id=account_id).first()
    if account is None:
        return False
    try:
        connector_for(kind).typing(
            account_config(account), to=Destination(chat_id=chat_id, thread_id=thread_id)
        )
    except ConnectorError as exc:
        logger.info("typing indicator in %s %s not shown: %s", account, chat_id, exc)
        return False
    return True
