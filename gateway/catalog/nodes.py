"""``node.list`` (protocol §6): OpenClaw's known nodes, and this cluster's workers.

OpenClaw lists the paired devices whose role is ``node`` (connected or not). The cluster's
Celery workers (``gateway.nodes``) are added in the same shape: their skills as ``caps``,
no ``commands`` (they take tasks from queues, not ``node.invoke``), ``connected`` while
online. Sorted as OpenClaw sorts: connected first, then by name, then by id.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from gateway import node_selectors
from gateway.catalog.devices import connected_device_ids
from gateway.catalog.wire import drop_none, ms
from pairing import selectors as pairing_selectors
from pairing.models import Device


def _device_node(device: Device, connected: frozenset[str]) -> dict[str, Any]:
    return drop_none(
        {
            "nodeId": device.device_id,
            "displayName": device.display_name or None,
            "platform": device.platform or None,
            "clientId": device.client_id or None,
            "clientMode": device.client_mode or None,
            "deviceFamily": device.device_family or None,
            "remoteIp": device.remote_ip,
            "caps": [],
            "commands": [],
            "approvalState": "approved",
            "lastSeenAtMs": ms(device.last_seen_at),
            "approvedAtMs": ms(device.approved_at),
            "paired": True,
            "connected": device.device_id in connected,
        }
    )


def _worker_node(view: node_selectors.NodeView) -> dict[str, Any]:
    node = view.node
    return drop_none(
        {
            "nodeId": node.node_id,
            "displayName": node.display_name or node.node_id,
            "platform": node.platform or None,
            "version": node.version or None,
            "clientMode": "worker",
            "caps": sorted(node.skills),
            "commands": [],
            "approvalState": "approved",
            "connectedAtMs": ms(node.started_at) if view.online else None,
            "lastSeenAtMs": ms(node.last_heartbeat_at),
            "lastSeenReason": "heartbeat" if node.last_heartbeat_at else None,
            "paired": True,
            "connected": view.online,
        }
    )


def _order(node: dict[str, Any]) -> tuple[bool, str, str]:
    name = str(node.get("displayName") or node["nodeId"]).lower()
    return (not node["connected"], name, node["nodeId"])


def nodes_list() -> dict[str, Any]:
    """Return ``node.list``: ``{ts, nodes}``."""
    connected = connected_device_ids()
    devices = [
        _device_node(device, connected)
        for device in pairing_selectors.devices_for_pairing_list()
        if device.role == "node" and device.status == Device.Status.PAIRED
    ]
    workers = [_worker_node(view) for view in node_selectors.nodes_all()]
    return {"ts": ms(timezone.now()), "nodes": sorted(devices + workers, key=_order)}
