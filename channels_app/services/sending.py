"""Sending an outbox row: pending → sending → sent, or failed with the reason.

``outbound_send`` claims the row with a lease, renders its text into the platform's
chunks and sends the chunks not sent yet, recording each one's platform message id
(in ``payload["sent"]``) before the next goes: a worker killed half-way is followed by
one that resumes where it stopped. Transient errors (a 429 with its ``retry_after``, a
5xx, the network) put the row back to ``pending`` with ``next_attempt_at`` after a
bounded exponential back-off, and the task is queued again for then; permanent errors
(the platform refused the chat or the token) and the last attempt end in ``failed``.

Delivery is at least once per chunk, in the narrowest window the platform allows:
Telegram has no idempotency key, so a worker killed after Telegram accepted a chunk
but before its id was recorded sends that chunk again on recovery.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from channels_app.connectors.base import ConnectorError, Destination
from channels_app.connectors.registry import connector_for
from channels_app.models import OutboundMessage
from channels_app.services.accounts import account_config
from channels_app.work import OUTBOUND_TASK, send
from core.leases import lease_claim

logger = logging.getLogger(__name__)

# Attempts before a transient failure becomes final, and the back-off between them:
# 1, 2, 4 ... times settings.CHANNEL_RETRY_BASE_MS, at most BACKOFF_MAX_S (a 429's
# retry_after wins when longer).
MAX_ATTEMPTS = 8
BACKOFF_MAX_S = 300.0
SEND_LEASE_S = 120


def _backoff(attempt: int, retry_after: float | None) -> float:
    base = int(settings.CHANNEL_RETRY_BASE_MS) / 1000
    delay: float = min(BACKOFF_MAX_S, base * 2.0 ** max(0, attempt - 1))
    return max(delay, float(retry_after or 0))


def _finish(row: OutboundMessage, owner: str, **fields: Any) -> bool:
    fields.setdefault("updated_at", timezone.now())
    return (
        OutboundMessage.objects.filter(
            pk=row.pk, status=OutboundMessage.Status.SENDING, lease_owner=owner[:100]
        ).update(lease_owner="", lease_expires_at=None, **fields)
        == 1
    )


def _failed(row: OutboundMessage, owner: str, error: ConnectorError) -> str:
    attempts = row.attempts
    if error.permanent or attempts >= MAX_ATTEMPTS:
        reason = error.message if error.permanent else f"gave up after {attempts} attempts: {error}"
        _finish(row, owner, status=OutboundMessage.Status.FAILED, last_error=reason[:2000])
        logger.warning("outbound %s failed: %s", row.pk, reason, extra={"outbound_id": row.pk})
        return "failed"
    delay = _backoff(attempts, error.retry_after)
    if _finish(
        row,
        owner,
        status=OutboundMessage.Status.PENDING,
        next_attempt_at=timezone.now() + timedelta(seconds=delay),
        last_error=str(error)[:2000],
    ):
        send(OUTBOUND_TASK, row.pk, countdown=delay)
    logger.info(
        "outbound %s: attempt %d failed (%s); next in %.1f s",
        row.pk,
        attempts,
        error,
        delay,
        extra={"outbound_id": row.pk},
    )
    return "retry"


def outbound_send(*, outbound_pk: int, owner: str) -> str:
    """Send one outbox row; return ``sent``, ``retry``, ``failed``, ``later`` or ``skip``."""
    now = timezone.now()
    row = OutboundMessage.objects.select_related("account").filter(pk=outbound_pk).first()
    if row is None or row.status != OutboundMessage.Status.PENDING:
        return "skip"
    if row.next_attempt_at and row.next_attempt_at > now:
        # Woken early (start-up recovery, the sweeper): come back at the planned time.
        send(OUTBOUND_TASK, row.pk, countdown=(row.next_attempt_at - now).total_seconds())
        return "later"
    if not lease_claim(
        model=OutboundMessage,
        pk=row.pk,
        from_statuses=[OutboundMessage.Status.PENDING],
        to_status=OutboundMessage.Status.SENDING,
        owner=owner,
        seconds=SEND_LEASE_S,
        now=now,
    ):
        return "skip"
    row.attempts += 1
    account = row.account
    try:
        connector = connector_for(account.kind)
        config = account_config(account)
        chunks = connector.render(row.text)
    except ConnectorError as exc:
        return _failed(row, owner, exc)
    sent: list[str] = [str(x) for x in (row.payload or {}).get("sent", [])]
    for index in range(len(sent), len(chunks)):
        to = Destination(
            chat_id=row.chat_id,
            thread_id=row.thread_id,
            reply_to_message_id=row.reply_to_message_id if index == 0 else "",
        )
        try:
            sent.append(connector.send_chunk(config, chunks[index], to=to))
        except ConnectorError as exc:
            return _failed(row, owner, exc)
        if index + 1 < len(chunks):
            # Recorded before the next chunk goes: a re-driven row resumes after it.
            # (The last one is recorded by the final update below.)
            OutboundMessage.objects.filter(pk=row.pk, lease_owner=owner[:100]).update(
                payload={**(row.payload or {}), "chunks": len(chunks), "sent": sent}
            )
    done = _finish(
        row,
        owner,
        status=OutboundMessage.Status.SENT,
        payload={**(row.payload or {}), "chunks": len(chunks), "sent": sent},
        sent_at=timezone.now(),
        external_id=(sent[0] if sent else "")[:200],
        last_error="",
        next_attempt_at=None,
    )
    return "sent" if done else "skip"
