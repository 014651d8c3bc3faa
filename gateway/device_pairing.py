"""Write use-cases behind ``device.pair.approve``, ``.reject`` and ``.remove``.

The wire names devices by OpenClaw's ids (``requestId``, ``deviceId``); these services
find the ``Device`` row, check that the caller may decide for it, and hand the state
change to ``pairing.services`` (compare-and-set there). Decisions are announced as
``device.pair.resolved`` (pairing scope) once committed.

Authorization follows OpenClaw (``server-methods/devices.ts``): ``operator.admin`` may
decide anything; without it a caller connected as a device may only manage that device,
only the operator role can be approved, and only with scopes the caller holds itself.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db import transaction

from core import events
from core.clock import now_ms
from gateway import scopes as gw_scopes
from pairing.models import Device
from pairing.selectors import device_by_device_id, device_by_request_id
from pairing.services import PairingError, device_approve, device_reject, device_revoke

UNKNOWN_REQUEST = "unknown requestId; list pending requests with device.pair.list"
UNKNOWN_DEVICE = "unknown deviceId; list paired devices with device.pair.list"


class DevicePairingError(Exception):
    """A device decision that cannot be made; the message says why and what to do."""


@dataclass(frozen=True)
class Caller:
    scopes: frozenset[str]
    device_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return gw_scopes.ADMIN in self.scopes


@dataclass(frozen=True)
class Resolved:
    request_id: str
    device: Device


def _pending_device(request_id: str) -> Device:
    try:
        key = uuid.UUID(request_id.strip())
    except ValueError:
        raise DevicePairingError(UNKNOWN_REQUEST) from None
    device = device_by_request_id(key)
    if device is None:
        raise DevicePairingError(UNKNOWN_REQUEST)
    return device


def _authorize(caller: Caller, device: Device, *, action: str) -> None:
    if caller.is_admin:
        return
    if caller.device_id is not None and caller.device_id != device.device_id:
        raise DevicePairingError(
            f"device pairing {action} denied: without operator.admin a device may only "
            "manage itself"
        )
    if device.role != "operator":
        raise DevicePairingError(
            f"device pairing {action} denied: the {device.role} role needs operator.admin"
        )


def _announce(request_id: str, device_id: str, decision: str) -> None:
    payload = {
        "requestId": request_id,
        "deviceId": device_id,
        "decision": decision,
        "ts": now_ms(),
    }
    transaction.on_commit(
        lambda: events.publish(
            "device.pair.resolved", payload, scope=gw_scopes.PAIRING, drop_if_slow=True
        )
    )


@transaction.atomic
def device_pair_approve(*, request_id: str, caller: Caller) -> Resolved:
    """Approve a pending device pairing request by its ``requestId``.

    Raises ``DevicePairingError`` for an unknown, already decided or forbidden request.
    Publishes ``device.pair.resolved`` (decision ``approved``) on commit.
    """
    device = _pending_device(request_id)
    _authorize(caller, device, action="approval")
    if not caller.is_admin:
        missing = [s for s in device.scopes if not gw_scopes.satisfies(caller.scopes, s)]
        if missing:
            raise DevicePairingError(
                f"device pairing approval denied: the request asks for {', '.join(missing)}, "
                "which this connection does not hold"
            )
    try:
        approved = device_approve(device_pk=device.pk)
    except PairingError as exc:
        raise DevicePairingError(f"{exc}; list pending requests with device.pair.list") from None
    _announce(request_id, approved.device_id, "approved")
    return Resolved(request_id=request_id, device=approved)


@transaction.atomic
def device_pair_reject(*, request_id: str, caller: Caller) -> Resolved:
    """Reject a pending device pairing request; publishes ``device.pair.resolved`` on commit."""
    device = _pending_device(request_id)
    _authorize(caller, device, action="rejection")
    try:
        rejected = device_reject(device_pk=device.pk)
    except PairingError as exc:
        raise DevicePairingError(f"{exc}; list pending requests with device.pair.list") from None
    _announce(request_id, rejected.device_id, "rejected")
    return Resolved(request_id=request_id, device=rejected)


@transaction.atomic
def device_pair_remove(*, device_id: str, caller: Caller) -> Device:
    """Unpair a paired device: its device token stops working on the next connect."""
    device = device_by_device_id(device_id.strip().lower())
    if device is None:
        raise DevicePairingError(UNKNOWN_DEVICE)
    _authorize(caller, device, action="removal")
    if device.status == Device.Status.PENDING:
        raise DevicePairingError(
            "this device is awaiting approval, not paired; reject its request with "
            "device.pair.reject"
        )
    try:
        return device_revoke(device_pk=device.pk)
    except PairingError:
        raise DevicePairingError(UNKNOWN_DEVICE) from None
