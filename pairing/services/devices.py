"""Write use-cases of gateway devices (Ed25519 client identities).

``Device`` rows are written here only: the gateway's connect handshake decides, these
functions write. Every status change is a compare-and-set update, so two operators
deciding the same device at once cannot both win.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from core import audit
from pairing.models import Device
from pairing.services.common import PairingError


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
    device = Device.objects.get(pk=device_pk)
    # An update sends no signal: the decision is recorded here (core.audit).
    audit.record(f"device.{verb}", device, before={"status": old}, after={"status": new})
    return device


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
