"""Write use-cases of the channels app: the durable outbox.

``outbound_deliver`` is this app's side of the delivery port (``core.delivery``): lower
apps (the ``message`` tool, a run answering a channel message) reach the outbox through
it, the gateway's ``send`` calls ``outbound_enqueue`` directly.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from channels_app.models import ChannelAccount, ChannelKind, OutboundMessage
from channels_app.work import OUTBOUND_TASK, enqueue_on_commit
from core.delivery import Accepted, ChannelMessage, DeliveryError
from core.ttlcache import TTLCache

logger = logging.getLogger(__name__)

# Enabled accounts' pks by (kind, account id): every channel turn's reply is queued here.
# Cleared by this process's account saves and deletes (``channels_app.apps``); an account
# disabled on another host stops taking messages within ``ttl_s``.
_enabled_accounts: TTLCache[tuple[str, str], int] = TTLCache(
    "channels.enabled_accounts", ttl_s=5.0, max_entries=256
)


class OutboundError(DeliveryError):
    """A message that cannot be accepted; the message says what to fix."""


@dataclass(frozen=True)
class Enqueued:
    message: OutboundMessage
    created: bool


def channel_kind_check(kind: str) -> str:
    """The channel kind a message names, normalized, or ``OutboundError`` saying why not.

    ``"last"`` (OpenClaw's last-used channel) is refused: this gateway does not track one.
    """
    kind = kind.strip().lower()
    if not kind or kind == "last":
        raise OutboundError(
            "send needs an explicit channel, e.g. channel: 'telegram' (this gateway does "
            "not track a last-used channel)"
        )
    if kind not in ChannelKind.values:
        raise OutboundError(
            f"unknown channel {kind!r}; known channels: {', '.join(ChannelKind.values)}"
        )
    return kind


def outbound_enqueue(
    *,
    kind: str,
    account_id: str,
    chat_id: str,
    text: str,
    dedupe_key: str,
    thread_id: str = "",
    reply_to_message_id: str = "",
    run_public_id: uuid.UUID | None = None,
) -> Enqueued:
    """Accept a message into the outbox of an enabled channel account (idempotent).

    The row is the promise: it stays ``pending`` until the account's connector delivers
    it (``channels.outbound_send``, queued on commit; the sweeper re-drives it if that
    task is lost).
    The same ``dedupe_key`` returns the row already accepted, never a second message.
    ``kind`` must name a channel kind: ``"last"`` (OpenClaw's last-used channel) is
    refused, as this gateway does not track one.
    """
    kind = channel_kind_check(kind)
    if not text.strip():
        raise OutboundError("the message is empty; send some text")
    account_pk = _enabled_account_pk(kind, account_id)
    if account_pk is None:
        raise OutboundError(
            f"no enabled {kind} account {account_id!r} is configured; add one in the admin "
            "(Channels → Channel accounts)"
        )
    # No lookup of the key first: a new key is the common case, and a key accepted
    # already (a retried ending, a resent ``send``) fails the unique dedupe_key.
    try:
        with transaction.atomic():
            message = OutboundMessage.objects.create(
                account_id=account_pk,
                chat_id=chat_id,
                thread_id=thread_id,
                reply_to_message_id=reply_to_message_id,
                text=text,
                dedupe_key=dedupe_key,
                run_public_id=run_public_id,
            )
    except IntegrityError:
        existing = OutboundMessage.objects.filter(dedupe_key=dedupe_key).first()
        if existing is None:
            raise
        return Enqueued(existing, False)
    logger.info(
        "outbound %s queued for %s:%s",
        message.pk,
        kind,
        account_id,
        extra={"outbound_id": message.pk},
    )
    enqueue_on_commit(OUTBOUND_TASK, [message.pk])
    return Enqueued(message, True)


def _enabled_account_pk(kind: str, account_id: str) -> int | None:
    """The pk of the enabled account ``(kind, account_id)``, cached a few seconds."""
    found, pk = _enabled_accounts.lookup((kind, account_id))
    if found:
        return pk
    pk = (
        ChannelAccount.objects.enabled()
        .filter(kind=kind, account_id=account_id)
        .values_list("pk", flat=True)
        .first()
    )
    if pk is not None:  # a missing account is looked up again: one added is found at once
        _enabled_accounts.set((kind, account_id), pk)
    return pk


def enabled_accounts_forget(**_kwargs: object) -> None:
    """Forget the cached account pks (a post_save/post_delete receiver for accounts)."""
    _enabled_accounts.clear()


def outbound_deliver(outgoing: ChannelMessage) -> Accepted:
    """The delivery port's deliverer (``core.delivery.deliver``): ``outbound_enqueue``."""
    enqueued = outbound_enqueue(
        kind=outgoing.channel,
        account_id=outgoing.account_id,
        chat_id=outgoing.chat_id,
        text=outgoing.text,
        dedupe_key=outgoing.dedupe_key,
        thread_id=outgoing.thread_id,
        reply_to_message_id=outgoing.reply_to_message_id,
        run_public_id=outgoing.run_public_id,
    )
    message = enqueued.message
    return Accepted(
        outbound_id=message.pk,
        message_id=str(message.public_id),
        channel=outgoing.channel.strip().lower(),
        chat_id=message.chat_id,
        status=message.status,
        created=enqueued.created,
    )
