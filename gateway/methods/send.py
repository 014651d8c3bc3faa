"""Gateway method: send (a message into a channel account's outbox).

The outbox (``channels_app.services.outbound.outbound_enqueue``) checks the channel: ``"last"``
and unknown kinds are refused there, for every caller.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from channels_app.services.outbound import OutboundError, channel_kind_check, outbound_enqueue
from gateway.methods.registry import CallContext, MethodError, WireParams, method


class SendParams(WireParams):
    to: str = Field(min_length=1)
    message: str | None = None
    media_url: str | None = None
    media_urls: list[str] | None = None
    channel: str | None = None
    account_id: str | None = None
    idempotency_key: str = Field(min_length=1, max_length=200)


@method("send", params=SendParams)
def send(ctx: CallContext, params: SendParams) -> dict[str, Any]:
    """Accept a message into a channel account's durable outbox (idempotent).

    Delivery is the connector's job: the row stays pending until the account's
    connector sends it, so an accepted message is never lost or sent twice.
    """
    try:
        channel = channel_kind_check(params.channel or "")
        if params.media_url or params.media_urls:
            raise MethodError("media is not supported by send yet; send text in message")
        enqueued = outbound_enqueue(
            kind=channel,
            account_id=(params.account_id or "default").strip().lower(),
            chat_id=params.to.strip(),
            text=params.message or "",
            dedupe_key=f"send:{params.idempotency_key}",
        )
    except OutboundError as exc:
        raise MethodError(str(exc)) from None
    return {
        "runId": params.idempotency_key,
        "messageId": str(enqueued.message.public_id),
        "channel": channel,
        "chatId": enqueued.message.chat_id,
        "status": enqueued.message.status,
    }
