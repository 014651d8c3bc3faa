"""The delivery port: how lower apps hand a message to a chat channel.

``agents`` must not import ``channels_app`` (imports point down), so ``channels_app``
registers its outbox here when it starts (``ChannelsAppConfig.ready``). The ``message``
tool calls ``deliver``, and so does the ending of a run that answers a channel message.
``deliver`` accepts the message into the channel account's durable outbox, idempotent on
``dedupe_key``; the account's connector sends it later.

Unlike an event, a message must not vanish: until a deliverer is registered (no channel
app in this process), ``deliver`` raises ``DeliveryUnavailableError``, a ``DeliveryError``
whose message says so, as it does for any message the outbox refuses.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass


class DeliveryError(Exception):
    """A message the outbox cannot accept; the message says what to fix."""


class DeliveryUnavailableError(DeliveryError):
    """No deliverer is registered: this process has no channel app."""


@dataclass(frozen=True)
class Accepted:
    """A message in the outbox: new, or the one accepted earlier under the same key."""

    outbound_id: int
    message_id: str  # the outbox row's public id (``send``'s ``messageId``)
    channel: str
    chat_id: str
    status: str
    created: bool


@dataclass(frozen=True)
class ChannelMessage:
    """A text for one chat of a channel account.

    ``channel`` is a channel kind (``telegram``); ``"last"`` and unknown kinds are
    refused. ``dedupe_key`` makes delivery idempotent: the same key returns the message
    accepted before, never a second one.
    """

    channel: str
    account_id: str
    chat_id: str
    text: str
    dedupe_key: str
    thread_id: str = ""
    run_public_id: uuid.UUID | None = None
    # The platform message this one answers (shown as a reply), "" for none.
    reply_to_message_id: str = ""


Deliverer = Callable[[ChannelMessage], Accepted]


def _unavailable(message: ChannelMessage) -> Accepted:
    raise DeliveryUnavailableError(
        "no channel app is running in this process, so messages cannot be queued for a "
        "channel; add channels_app to INSTALLED_APPS"
    )


_deliverer: Deliverer = _unavailable


def register_deliverer(deliverer: Deliverer) -> None:
    global _deliverer  # noqa: PLW0603  (a port set once at start-up)
    _deliverer = deliverer


def deliver(message: ChannelMessage) -> Accepted:
    """Accept ``message`` into its channel account's outbox (idempotent on its key).

    Raises ``DeliveryError`` (the message says what to fix). Call it inside the
    transaction that decides the message, so the row commits (or not) with it.
    """
    return _deliverer(message)
