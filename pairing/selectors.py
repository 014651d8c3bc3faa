"""Read use-cases of the pairing app: gateway devices (by their OpenClaw ids).

The gateway's connect handshake, its ``device.pair.*`` methods and its catalog read
``Device`` rows through these functions; writes go through ``pairing.services``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.db.models import Q

from pairing.models import AllowlistEntry, Device


def device_by_device_id(device_id: str) -> Device | None:
    return Device.objects.filter(device_id=device_id).first()


def device_by_device_id_for_update(device_id: str) -> Device | None:
    """The device, its row locked until the caller's transaction ends (PostgreSQL).

    Call inside ``transaction.atomic``: a connect decides on the row (pair, upgrade, issue
    a token) while no other connect of the same device can.
    """
    return Device.objects.select_for_update().filter(device_id=device_id).first()


def device_by_request_id(request_id: uuid.UUID) -> Device | None:
    """The device whose pairing request has this ``requestId``, if any."""
    return Device.objects.filter(request_id=request_id).first()


def devices_for_pairing_list(*, device_id: str | None = None) -> list[Device]:
    """Devices awaiting approval (with a request id) and paired ones, newest first.

    ``device_id`` limits the list to that one device.
    """
    devices = Device.objects.filter(
        Q(status=Device.Status.PENDING, request_id__isnull=False) | Q(status=Device.Status.PAIRED)
    ).order_by("-created_at")
    if device_id is not None:
        devices = devices.filter(device_id=device_id)
    return list(devices)


def allowlist_has(*, channel_account_id: int, sender_refs: Iterable[str]) -> bool:
    """Whether pairing (or an operator) allowed one of these sender refs on the account."""
    refs = [ref for ref in sender_refs if ref]
    if not refs:
        return False
    return AllowlistEntry.objects.filter(
        channel_account_id=channel_account_id, sender_ref__in=refs
    ).exists()
