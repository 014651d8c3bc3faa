"""Write use-cases of the pairing app: allowlists, DM pairing requests, gateway devices.

Every status change is a compare-and-set update (``filter(status=OLD).update(...) == 1``),
so two operators (or an operator and the expiry sweep) deciding the same row at the same
time cannot both win; the loser gets a ``PairingError`` saying what happened instead.
``Device`` rows are written here only: the gateway's connect handshake decides, these
functions write.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from pairing.lib.codes import PAIRING_CODE_PATTERN, pairing_code_generate, pairing_code_normalize
from pairing.models import AllowlistEntry, Device, PairingRequest

# OpenClaw (src/pairing/pairing-store.ts): codes live one hour, at most three are open
# per channel account, so a flood of strangers cannot fill the operator's queue.
PAIRING_REQUEST_TTL = timedelta(hours=1)
MAX_PENDING_PER_ACCOUNT = 3
_CODE_ATTEMPTS = 5
_PAIRING_CODE_RE = re.compile(PAIRING_CODE_PATTERN)
_DISPLAY_NAME_KEYS = ("display_name", "name", "username")
# pg_advisory_xact_lock's first key: the namespace of "pairing requests of one account".
_REQUESTS_LOCK_NAMESPACE = 0x70616972  # "pair"


class PairingError(Exception):
    """A pairing or device decision that cannot be made; the message says why."""


def _display_name(meta: dict[str, Any]) -> str:
    for key in _DISPLAY_NAME_KEYS:
        value = meta.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:200]
    return ""


def _expire(queryset: QuerySet[PairingRequest], now: datetime) -> int:
    return queryset.filter(status=PairingRequest.Status.PENDING, expires_at__lte=now).update(
        status=PairingRequest.Status.EXPIRED, decided_at=now, updated_at=now
    )


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


def _account_exists(channel_account_id: int) -> bool:
    # Through the foreign key pairing declares ("channels_app.ChannelAccount" by name),
    # so that pairing, below channels_app, imports nothing of it.
    account_model = PairingRequest._meta.get_field("channel_account").related_model
    assert isinstance(account_model, type)
    return account_model._default_manager.filter(pk=channel_account_id).exists()


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
    """
    now = now or timezone.now()
    ref = sender_ref.strip()
    if not ref:
        raise PairingError("the sender id is empty; a pairing request needs the platform sender id")
    _lock_account_requests(channel_account_id)
    if not _account_exists(channel_account_id):
        raise PairingError(f"there is no channel account #{channel_account_id}")
    account_requests = PairingRequest.objects.filter(channel_account_id=channel_account_id)
    _expire(account_requests, now)

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


@transaction.atomic
def pairing_request_approve(*, request_id: int, decided_by: User | None = None) -> PairingRequest:
    """Approve a pending, unexpired pairing request and allowlist its sender.

    Raises ``PairingError`` if the request is missing, already decided or expired.
    """
    now = timezone.now()
    claimed = PairingRequest.objects.filter(
        pk=request_id, status=PairingRequest.Status.PENDING, expires_at__gt=now
    ).update(
        status=PairingRequest.Status.APPROVED, decided_at=now, decided_by=decided_by, updated_at=now
    )
    if claimed != 1:
        raise _explain_undecided(request_id, now)
    request = PairingRequest.objects.get(pk=request_id)
    allowlist_entry_add(
        channel_account_id=request.channel_account_id,
        sender_ref=request.sender_ref,
        source=AllowlistEntry.Source.PAIRING,
        added_by=decided_by,
        display_name=_display_name(request.sender_meta),
    )
    return request


@transaction.atomic
def pairing_request_approve_code(
    *, channel_account_id: int, code: str, decided_by: User | None = None
) -> PairingRequest:
    """Approve the pending request of a channel account by the code the sender was given.

    The code is normalised first (case, spaces and dashes do not matter).
    """
    normalized = pairing_code_normalize(code)
    if not _PAIRING_CODE_RE.fullmatch(normalized):
        raise PairingError(
            f"{code.strip()!r} is not a pairing code: 8 characters from A-Z and 2-9 "
            "without O and I, e.g. K7MX3PQA"
        )
    request_id = (
        PairingRequest.objects.filter(
            channel_account_id=channel_account_id,
            code=normalized,
            status=PairingRequest.Status.PENDING,
        )
        .values_list("pk", flat=True)
        .first()
    )
    if request_id is None:
        raise PairingError(
            f"no pending pairing request with code {normalized} on this channel account; "
            "codes expire after 1 hour"
        )
    return pairing_request_approve(request_id=request_id, decided_by=decided_by)


@transaction.atomic
def pairing_request_reject(*, request_id: int, decided_by: User | None = None) -> PairingRequest:
    """Reject a pending pairing request; the sender stays off the allowlist."""
    now = timezone.now()
    claimed = PairingRequest.objects.filter(
        pk=request_id, status=PairingRequest.Status.PENDING
    ).update(
        status=PairingRequest.Status.REJECTED, decided_at=now, decided_by=decided_by, updated_at=now
    )
    if claimed != 1:
        raise _explain_undecided(request_id, now)
    return PairingRequest.objects.get(pk=request_id)


@transaction.atomic
def pairing_requests_expire(*, now: datetime | None = None) -> int:
    """Mark every pending request past its expiry as expired; return how many."""
    return _expire(PairingRequest.objects.all(), now or timezone.now())


def _device_transition(
    *, device_pk: int, old: str, new: str, changes: dict[str, Any], verb: str
) -> Device:
    now = timezone.now()
    claimed = Device.objects.filter(pk=device_pk, status=old).update(
        status=new, updated_at=now, **changes
    )
    if claimed != 1:
        device = Device.objects.filter(pk=device_pk).first()
        if device is None:
            raise PairingError(f"there is no device #{device_pk}")
        raise PairingError(f"cannot {verb} device {device}: it is {device.get_status_display()}")
    return Device.objects.get(pk=device_pk)


@transaction.atomic
def device_approve(*, device_pk: int, approved_by: User | None = None) -> Device:
    """Pair a device awaiting approval, so it may connect to the gateway."""
    return _device_transition(
        device_pk=device_pk,
        old=Device.Status.PENDING,
        new=Device.Status.PAIRED,
        changes={"approved_at": timezone.now(), "approved_by": approved_by},
        verb="approve",
    )


@transaction.atomic
def device_reject(*, device_pk: int) -> Device:
    """Refuse a device awaiting approval (who acted is in the caller's audit log)."""
    return _device_transition(
        device_pk=device_pk,
        old=Device.Status.PENDING,
        new=Device.Status.REJECTED,
        changes={},
        verb="reject",
    )


@transaction.atomic
def device_revoke(*, device_pk: int) -> Device:
    """Unpair a paired device and forget its token hash, so its device token stops working."""
    return _device_transition(
        device_pk=device_pk,
        old=Device.Status.PAIRED,
        new=Device.Status.REVOKED,
        changes={"token_hash": ""},
        verb="revoke",
    )


# --- devices at connect time ------------------------------------------------------------
# The gateway's connect handshake locks the row (pairing.selectors), decides, and writes
# through these. They run in its transaction: ``savepoint=False`` adds no queries to the
# connect, and a call outside any transaction still gets one of its own.
@dataclass(frozen=True)
class DeviceClaim:
    """What a connecting device says about itself, verified and cleaned by the gateway."""

    device_id: str
    public_key: str
    display_name: str
    platform: str
    device_family: str
    client_id: str
    client_mode: str
    role: str
    remote_ip: str | None


@transaction.atomic(savepoint=False)
def device_record_connect(
    *, device: Device | None, claim: DeviceClaim, scopes: list[str]
) -> Device:
    """Create the device, or update it with what it says now; its scopes only grow."""
    fields = {
        "public_key": claim.public_key,
        "display_name": claim.display_name,
        "platform": claim.platform,
        "device_family": claim.device_family,
        "client_id": claim.client_id,
        "client_mode": claim.client_mode,
        "role": claim.role,
        "remote_ip": claim.remote_ip,
        "last_seen_at": timezone.now(),
    }
    if device is None:
        return Device.objects.create(device_id=claim.device_id, scopes=scopes, **fields)
    merged = sorted(set(device.scopes) | set(scopes))
    for name, value in fields.items():
        setattr(device, name, value)
    device.scopes = merged
    device.save()
    return device


@transaction.atomic(savepoint=False)
def device_pair_silently(*, device: Device) -> Device:
    """Pair a device without approval (the gateway allows it for local clients)."""
    Device.objects.filter(pk=device.pk).update(
        status=Device.Status.PAIRED, approved_at=timezone.now(), request_id=None
    )
    return device


@transaction.atomic(savepoint=False)
def device_pairing_request_open(*, device: Device, pending_ttl: timedelta) -> Device:
    """Put the device in wait for approval under a pairing request, and return it.

    Its open request keeps its ``requestId`` for ``pending_ttl``; after that (or without
    one) it gets a new one. A paired device asking for more waits too, failing closed.
    """
    now = timezone.now()
    if device.request_id is None or (
        device.requested_at and now - device.requested_at > pending_ttl
    ):
        device.request_id = uuid.uuid4()
        device.requested_at = now
    device.status = Device.Status.PENDING
    device.save(update_fields=["request_id", "requested_at", "status", "updated_at"])
    return device


@transaction.atomic(savepoint=False)
def device_token_store(*, device_pk: int, token_hash: str) -> None:
    """Record the hash of the device token just handed to the device (never the token)."""
    now = timezone.now()
    Device.objects.filter(pk=device_pk).update(
        token_hash=token_hash, token_issued_at=now, last_seen_at=now
    )
