"""Write use-cases of allowlists and DM pairing requests (by request id).

Every status change is a compare-and-set update (``filter(status=OLD).update(...) == 1``),
so two operators (or an operator and the expiry sweep) deciding the same row at the same
time cannot both win; the loser gets a ``PairingError`` saying what happened instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from core import audit, delivery
from pairing.lib.codes import pairing_code_generate
from pairing.models import AllowlistEntry, PairingRequest
from pairing.services.common import (
    MAX_PENDING_PER_ACCOUNT,
    PAIRING_APPROVED_TEXT,
    PAIRING_REQUEST_TTL,
    PairingError,
    account_model,
    display_name_of,
    expire_pending,
)

logger = logging.getLogger(__name__)

_CODE_ATTEMPTS = 5
# pg_advisory_xact_lock's first key: the namespace of "pairing requests of one account".
_REQUESTS_LOCK_NAMESPACE = 0x70616972  # "pair"


@dataclass(frozen=True)
class PairingApproval:
    """An approved pairing request, and whether its sender's notice was queued.

    ``notice_error`` says why the sender was not told ("" when the notice is in the
    outbox): the approval stands either way, the sender just learns it on their next
    message.
    """

    request: PairingRequest
    notified: bool
    notice_error: str = ""


@transaction.atomic
def allowlist_entry_add(
    *,
    channel_account_id: int,
    sender_ref: str,
    source: str = AllowlistEntry.Source.MANUAL,
    added_by: User | None = None,
    display_name: str = "",
    note: str = "",
) -> AllowlistEntry:
    """Allow a sender to DM a channel account; return the (possibly existing) entry.

    Idempotent: an existing entry for the same (account, sender) is returned unchanged,
    so approving a pairing for a sender added by hand keeps the operator's entry.
    """
    ref = sender_ref.strip()
    if not ref:
        raise PairingError("the sender id is empty; give the platform sender id, e.g. 123456789")
    entry, _created = AllowlistEntry.objects.get_or_create(
        channel_account_id=channel_account_id,
        sender_ref=ref,
        defaults={
            "source": source,
            "added_by": added_by,
            "display_name": display_name[:200],
            "note": note[:200],
        },
    )
    return entry


def _lock_account_requests(channel_account_id: int) -> None:
    """Serialize ``pairing_request_create`` per channel account until the transaction ends.

    Counting the open requests and inserting one must not interleave between two senders
    of one account, or both could see two open requests and make it four. The lock is
    pairing's own: a PostgreSQL transaction-level advisory lock on (requests namespace,
    account id), which also holds when the account has no request row yet to lock, and
    which the ``channels_app`` account row (a layer above) is no part of. Two accounts
    whose ids agree modulo 2**31 share the lock, which only serializes them. SQLite
    needs none: every transaction here begins IMMEDIATE (settings.py), so writers
    already run one at a time.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)",
                [_REQUESTS_LOCK_NAMESPACE, channel_account_id % 2**31],
            )


@transaction.atomic
def pairing_request_create(
    *,
    channel_account_id: int,
    sender_ref: str,
    sender_meta: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> tuple[PairingRequest, bool]:
    """Return the sender's open pairing request, creating one with a fresh code if needed.

    An open request is returned as it is, with ``last_seen_at`` (and ``sender_meta``, when
    given) updated, and ``False``. Expired requests of the account are closed first.
    Raises ``PairingError`` when the account already has ``MAX_PENDING_PER_ACCOUNT`` open
    requests. The cap holds under concurrent senders: see ``_lock_account_requests``.
    ``sender_meta`` is what the approval needs later: ``chatId`` (where to tell the
    sender; a Telegram DM's chat id is the sender id, the fallback), ``name``, ``username``.
    """
    now = now or timezone.now()
    ref = sender_ref.strip()
    if not ref:
        raise PairingError("the sender id is empty; a pairing request needs the platform sender id")
    _lock_account_requests(channel_account_id)
    if not account_model()._default_manager.filter(pk=channel_account_id).exists():
        raise PairingError(f"there is no channel account #{channel_account_id}")
    account_requests = PairingRequest.objects.filter(channel_account_id=channel_account_id)
    expire_pending(account_requests, now)

    for _attempt in range(_CODE_ATTEMPTS):
        open_requests = account_requests.filter(status=PairingRequest.Status.PENDING)
        existing = open_requests.filter(sender_ref=ref).first()
        if existing is not None:
            changes: dict[str, Any] = {"last_seen_at": now, "updated_at": now}
            if sender_meta:
                changes["sender_meta"] = sender_meta
            PairingRequest.objects.filter(pk=existing.pk).update(**changes)
            existing.refresh_from_db()
            return existing, False
        if open_requests.count() >= MAX_PENDING_PER_ACCOUNT:
            raise PairingError(
                f"this channel account already has {MAX_PENDING_PER_ACCOUNT} pending pairing "
                "requests; approve or reject one first (they also expire after 1 hour)"
            )
        try:
            # A savepoint, so a lost race (same sender, or the same code drawn twice) leaves
            # the outer transaction usable and the loop looks again.
            with transaction.atomic():
                request = PairingRequest.objects.create(
                    channel_account_id=channel_account_id,
                    sender_ref=ref,
                    sender_meta=sender_meta or {},
                    code=pairing_code_generate(),
                    expires_at=now + PAIRING_REQUEST_TTL,
                    last_seen_at=now,
                    created_at=now,
                )
        except IntegrityError:
            continue
        return request, True
    raise PairingError("could not allocate a unique pairing code; try again")


def _explain_undecided(request_id: int, now: datetime) -> PairingError:
    request = PairingRequest.objects.filter(pk=request_id).first()
    if request is None:
        return PairingError(f"there is no pairing request #{request_id}")
    if request.status == PairingRequest.Status.PENDING and request.expires_at <= now:
        return PairingError(
            f"pairing request {request.code} expired; the sender gets a new code by messaging again"
        )
    return PairingError(f"pairing request {request.code} is already {request.status}")


def sender_chat_id(request: PairingRequest) -> str:
    """Where to tell the sender: ``sender_meta["chatId"]``, else the sender id (a DM's chat)."""
    chat_id = (request.sender_meta or {}).get("chatId")
    return str(chat_id).strip() if chat_id not in (None, "") else request.sender_ref


def _tell_sender(request: PairingRequest) -> str:
    """Queue OpenClaw's approval notice to the sender's chat; "" or why it was not queued.

    Through the delivery port, in the approval's transaction (the outbox row commits with
    the approval, and is sent after), under a savepoint: an outbox that refuses (the
    account was disabled meanwhile) costs the notice, never the approval.
    """
    account = request.channel_account
    message = delivery.ChannelMessage(
        channel=account.kind,
        account_id=account.account_id,
        chat_id=sender_chat_id(request),
        text=PAIRING_APPROVED_TEXT,
        dedupe_key=f"pairing:{request.pk}:approved",
    )
    try:
        with transaction.atomic():
            delivery.deliver(message)
    except delivery.DeliveryError as exc:
        logger.warning("pairing request %s approved; the sender was not told: %s", request.pk, exc)
        return str(exc)
    return ""


def _audit_decision(action: str, request: PairingRequest) -> None:
    """Record a decision (a compare-and-set update, which sends no signal) in the audit log."""
    audit.record(
        action,
        request,
        before={"status": PairingRequest.Status.PENDING},
        after={"status": request.status},
    )


@transaction.atomic
def pairing_request_approve(*, request_id: int, decided_by: User | None = None) -> PairingApproval:
    """Approve a pending, unexpired pairing request, allowlist its sender and tell them.

    The notice (OpenClaw's "access approved" text) is queued in the channel's outbox in
    this transaction, idempotent on ``pairing:<id>:approved``. Raises ``PairingError`` if
    the request is missing, already decided or expired.
    """
    now = timezone.now()
    claimed = PairingRequest.objects.filter(
        pk=request_id, status=PairingRequest.Status.PENDING, expires_at__gt=now
    ).update(
        status=PairingRequest.Status.APPROVED, decided_at=now, decided_by=decided_by, updated_at=now
    )
    if claimed != 1:
        raise _explain_undecided(request_id, now)
    request = PairingRequest.objects.select_related("channel_account").get(pk=request_id)
    _audit_decision("pairing.approve", request)
    allowlist_entry_add(
        channel_account_id=request.channel_account_id,
        sender_ref=request.sender_ref,
        source=AllowlistEntry.Source.PAIRING,
        added_by=decided_by,
        display_name=display_name_of(request.sender_meta),
    )
    notice_error = _tell_sender(request)
    return PairingApproval(request=request, notified=not notice_error, notice_error=notice_error)


@transaction.atomic
def pairing_request_reject(*, request_id: int, decided_by: User | None = None) -> PairingRequest:
    """Reject a pending pairing request; the sender stays off the allowlist (and is not told)."""
    now = timezone.now()
    claimed = PairingRequest.objects.filter(
        pk=request_id, status=PairingRequest.Status.PENDING
    ).update(
        status=PairingRequest.Status.REJECTED, decided_at=now, decided_by=decided_by, updated_at=now
    )
    if claimed != 1:
        raise _explain_undecided(request_id, now)
    request = PairingRequest.objects.select_related("channel_account").get(pk=request_id)
    _audit_decision("pairing.reject", request)
    return request


@transaction.atomic
def pairing_requests_expire(*, now: datetime | None = None) -> int:
    """Mark every pending request past its expiry as expired; return how many."""
    return expire_pending(PairingRequest.objects.all(), now or timezone.now())
