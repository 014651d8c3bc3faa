"""Write use-cases of the channels app: the durable outbox."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from channels_app.models import ChannelAccount, OutboundMessage

logger = logging.getLogger(__name__)


class OutboundError(Exception):
    """A message that cannot be accepted; the message says what to fix."""


@dataclass(frozen=True)
class Enqueued:
    message: OutboundMessage
    created: bool


def outbound_enqueue(
    *,
    kind: str,
    account_id: str,
    chat_id: str,
    text: str,
    dedupe_key: str,
    thread_id: str = "",
) -> Enqueued:
    """Accept a message into the outbox of an enabled channel account (idempotent).

    The row is the promise: it stays ``pending`` until the account's connector delivers
    it (the sweeper re-drives pending rows once a connector's processor is installed).
    The same ``dedupe_key`` returns the row already accepted, never a second message.
    """
    if not text.strip():
        raise OutboundError("the message is empty; send some text")
    account = ChannelAccount.objects.enabled().filter(kind=kind, account_id=account_id).first()
    if account is None:
        raise OutboundError(
            f"no enabled {kind} account {account_id!r} is configured; add one in the admin "
            "(Channels → Channel accounts)"
        )
    existing = OutboundMessage.objects.filter(dedupe_key=dedupe_key).first()
    if existing is not None:
        return Enqueued(existing, False)
    try:
        with transaction.atomic():
            message = OutboundMessage.objects.create(
                account=account,
                chat_id=chat_id,
                thread_id=thread_id,
                text=text,
                dedupe_key=dedupe_key,
            )
    except IntegrityError:  # the same key accepted concurrently
        return Enqueued(OutboundMessage.objects.get(dedupe_key=dedupe_key), False)
    logger.info("outbound %s queued for %s", message.pk, account, extra={"outbound_id": message.pk})
    return Enqueued(message, True)
