"""``device.pair.list`` and the wire shape of a device (protocol §6.6).

A device is shaped once, by ``_device_fields``: as a pending request (``device.pair.list``
and the ``device.pair.requested`` event) and as a paired device (``device.pair.list``,
``device.pair.approve``). The token hash never leaves the database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.clock import now_ms
from gateway import bus
from gateway.catalog.wire import drop_none, ms
from pairing import selectors as pairing_selectors

if TYPE_CHECKING:
    from pairing.models import Device


def _device_fields(device: Device, *, roles: bool = True) -> dict[str, Any]:
    # Who the device is and what it asked for; empty texts are null.
    fields: dict[str, Any] = {
        "deviceId": device.device_id,
        "publicKey": device.public_key,
        "displayName": device.display_name or None,
        "platform": device.platform or None,
        "deviceFamily": device.device_family or None,
        "clientId": device.client_id or None,
        "clientMode": device.client_mode or None,
        "role": device.role,
    }
    if roles:
        fields["roles"] = [device.role]
    fields["scopes"] = list(device.scopes)
    fields["remoteIp"] = device.remote_ip
    return fields


def device_pending(device: Device) -> dict[str, Any]:
    """A pending pairing request (protocol §6.6), keyed by its ``requestId``."""
    return drop_none(
        {
            "requestId": str(device.request_id) if device.request_id else None,
            **_device_fields(device),
            "ts": ms(device.requested_at or device.created_at),
        }
    )


def device_pair_requested(device: Device) -> tuple[str, dict[str, Any]]:
    """The ``device.pair.requested`` event of a device now waiting for approval.

    As OpenClaw sends it: empty fields stay (null), no ``roles``, stamped now.
    """
    return (
        "device.pair.requested",
        {
            "requestId": str(device.request_id),
            **_device_fields(device, roles=False),
            "ts": now_ms(),
        },
    )


def connected_device_ids() -> frozenset[str]:
    """The device ids of the connections this process holds now.

    In team mode each gateway process knows only its own sockets: a device connected to
    another process shows as not connected here.
    """
    ids = set()
    for subscriber in bus.subscribers():
        device_id = getattr(getattr(subscriber, "principal", None), "device_id", None)
        if isinstance(device_id, str) and device_id:
            ids.add(device_id)
    return frozenset(ids)


def device_paired(device: Device, *, connected: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A paired device (protocol §6.6) with a token summary; never the token hash.

    ``connected``: the device ids connected now (``connected_device_ids``).
    """
    tokens = []
    if device.token_hash:
        tokens.append(
            drop_none(
                {
                    "role": device.role,
                    "scopes": list(device.scopes),
                    "createdAtMs": ms(device.token_issued_at),
                    "lastUsedAtMs": ms(device.last_seen_at),
                }
            )
        )
    return drop_none(
        {
            **_device_fields(device),
            "tokens": tokens,
            "connected": device.device_id in connected,
            "createdAtMs": ms(device.created_at),
            "approvedAtMs": ms(device.approved_at),
        }
    )


def device_pairing_list(*, only_device_id: str | None = None) -> dict[str, Any]:
    """Return ``device.pair.list``: pending requests and paired devices.

    ``only_device_id`` limits both lists to one device (a non-admin device caller sees
    only itself, as in OpenClaw).
    """
    pending, paired = [], []
    connected = connected_device_ids()
    for device in pairing_selectors.devices_for_pairing_list(device_id=only_device_id):
        if device.status == device.Status.PENDING:
            pending.append(device_pending(device))
        else:
            paired.append(device_paired(device, connected=connected))
    return {"pending": pending, "paired": paired}
