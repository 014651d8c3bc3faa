"""Read use-cases of cluster nodes: lists, one node's health, the cluster's capacity.

Each returns ``NodeView`` rows (a node and whether it is online at the moment of the
read) or a ``ClusterHealth``; the HTTP API, ``node.list`` and ``manage.py status`` shape
them. One query each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from gateway.catalog.wire import iso as _iso
from gateway.models import Node


@dataclass(frozen=True)
class NodeView:
    node: Node
    online: bool
    now: datetime

    @property
    def available(self) -> int:
        """Free task slots: capacity minus tasks in flight (0 when offline)."""
        if not self.online:
            return 0
        return max(0, self.node.max_concurrent_tasks - self.node.tasks_in_flight)

    @property
    def seconds_since_heartbeat(self) -> float | None:
        beat = self.node.last_heartbeat_at
        return None if beat is None else round((self.now - beat).total_seconds(), 3)

    def as_dict(self) -> dict[str, Any]:
        """The node as the HTTP API (and ``status --json``) shows it."""
        node = self.node
        return {
            "node_id": node.node_id,
            "display_name": node.display_name or node.node_id,
            "host": node.host,
            "pid": node.pid,
            "platform": node.platform,
            "version": node.version,
            "skills": list(node.skills),
            "queues": list(node.queues),
            "status": "online" if self.online else "offline",
            "online": self.online,
            "max_concurrent_tasks": node.max_concurrent_tasks,
            "tasks_in_flight": node.tasks_in_flight if self.online else 0,
            "available_capacity": self.available,
            "last_heartbeat_at": _iso(node.last_heartbeat_at),
            "seconds_since_heartbeat": self.seconds_since_heartbeat,
            "started_at": _iso(node.started_at),
            "status_changed_at": _iso(node.status_changed_at),
        }

    def health(self) -> dict[str, Any]:
        """One node's health (``/api/v1/nodes/<id>/health``)."""
        return {
            "node_id": self.node.node_id,
            "status": "online" if self.online else "offline",
            "online": self.online,
            "last_heartbeat_at": _iso(self.node.last_heartbeat_at),
            "seconds_since_heartbeat": self.seconds_since_heartbeat,
            "offline_after_seconds": settings.NODE_OFFLINE_AFTER_SECONDS,
            "max_concurrent_tasks": self.node.max_concurrent_tasks,
            "tasks_in_flight": self.node.tasks_in_flight if self.online else 0,
            "available_capacity": self.available,
            "timestamp": _iso(self.now),
        }


@dataclass(frozen=True)
class ClusterHealth:
    total_nodes: int
    online_nodes: int
    total_capacity: int
    available_capacity: int
    timestamp: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "total_nodes": self.total_nodes,
            "online_nodes": self.online_nodes,
            "total_capacity": self.total_capacity,
            "available_capacity": self.available_capacity,
            "timestamp": _iso(self.timestamp),
        }


def _views(nodes: list[Node], now: datetime) -> list[NodeView]:
    return [NodeView(node=node, online=node.is_alive_at(now), now=now) for node in nodes]


def nodes_all(*, now: datetime | None = None) -> list[NodeView]:
    """Every known node by id, online or not."""
    now = now or timezone.now()
    return _views(list(Node.objects.order_by("node_id")), now)


def nodes_online(*, now: datetime | None = None) -> list[Node]:
    """The online nodes by id (not stopped, a heartbeat within the timeout)."""
    return list(Node.objects.alive(now or timezone.now()).order_by("node_id"))


def nodes_online_views(*, now: datetime | None = None) -> list[NodeView]:
    now = now or timezone.now()
    return _views(nodes_online(now=now), now)


def nodes_with_skill(skill: str, *, now: datetime | None = None) -> list[NodeView]:
    """The online nodes having ``skill`` (those ``route_for_skill`` routes to)."""
    now = now or timezone.now()
    # Filtered here, not in SQL: JSON containment has no SQLite lookup, and nodes are few.
    return [view for view in nodes_online_views(now=now) if skill in view.node.skills]


def node_view(node_id: str, *, now: datetime | None = None) -> NodeView | None:
    """The node with this id, or None."""
    node = Node.objects.filter(node_id=node_id).first()
    if node is None:
        return None
    now = now or timezone.now()
    return NodeView(node=node, online=node.is_alive_at(now), now=now)


def cluster_health(*, now: datetime | None = None) -> ClusterHealth:
    """Counts and capacity: capacity is that of the online nodes, available capacity
    their capacity minus the tasks in flight their last heartbeats reported."""
    now = now or timezone.now()
    views = nodes_all(now=now)
    online = [view for view in views if view.online]
    return ClusterHealth(
        total_nodes=len(views),
        online_nodes=len(online),
        total_capacity=sum(view.node.max_concurrent_tasks for view in online),
        available_capacity=sum(view.available for view in online),
        timestamp=now,
    )
