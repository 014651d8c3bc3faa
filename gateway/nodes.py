"""Write use-cases of cluster nodes: register, heartbeat, stop, sweep; skill routing.

A node is one Celery worker process (``gateway.node_worker`` calls these at its start,
every ``NODE_HEARTBEAT_SECONDS`` and at its stop). Online means: not stopped, and a
heartbeat within ``NODE_OFFLINE_AFTER_SECONDS``; the node sweep (beat, every
``NODE_CHECK_SECONDS``) records the silent ones as offline. Design and settings:
docs/nodes.md.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from django.db import IntegrityError, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from gateway import node_selectors
from gateway.lib.nodes import NodeConfigError, check_skill, node_skills, queue_for_skill
from gateway.models import Node

logger = logging.getLogger(__name__)

# A node offline this long is deleted by the sweep: with the default id (<host>:<pid>)
# a stopped worker never comes back under the same id.
FORGET_AFTER = timedelta(days=1)


class NodeError(Exception):
    """A node operation that cannot be done; the message says why and what to do."""


class NodeIdInUseError(NodeError):
    """The node id is held by another live process."""


class NoNodeForSkillError(NodeError):
    """No online node has the skill a task needs."""


@dataclass(frozen=True)
class NodeIdentity:
    """Who a worker process is: what it registers (and heartbeats under)."""

    node_id: str
    host: str
    pid: int
    queues: list[str]
    declared_skills: list[str]
    max_concurrent_tasks: int
    display_name: str = ""
    platform: str = ""
    version: str = ""
    instance_id: uuid.UUID = field(default_factory=uuid.uuid4)

    @property
    def skills(self) -> list[str]:
        return node_skills(self.queues, self.declared_skills)


@dataclass(frozen=True)
class SweepReport:
    went_offline: list[str]
    forgotten: int


def _holder(node: Node, now: datetime) -> str:
    age = (now - node.last_heartbeat_at).total_seconds() if node.last_heartbeat_at else None
    seen = f"last heartbeat {age:.0f} s ago" if age is not None else "no heartbeat"
    return f"pid {node.pid} on {node.host or 'an unknown host'}, {seen}"


def node_register(*, identity: NodeIdentity, now: datetime | None = None) -> Node:
    """Claim ``identity.node_id`` for this process and mark the node online.

    Refused (``NodeIdInUseError``) while another process instance holds the id and is
    online; a stale holder (silent past ``NODE_OFFLINE_AFTER_SECONDS``, or stopped) is
    taken over. Two processes registering one new id at once: the unique key lets one
    create the row, the other then finds it live and is refused.
    """
    now = now or timezone.now()
    values: dict[str, Any] = {
        "instance_id": identity.instance_id,
        "host": identity.host,
        "pid": identity.pid,
        "display_name": identity.display_name,
        "platform": identity.platform,
        "version": identity.version,
        "queues": sorted(identity.queues),
        "skills": identity.skills,
        "max_concurrent_tasks": max(1, identity.max_concurrent_tasks),
        "tasks_in_flight": 0,
        "status": Node.Status.ONLINE,
        "status_changed_at": now,
        "started_at": now,
        "last_heartbeat_at": now,
        "updated_at": now,
    }
    for attempt in range(2):
        try:
            with transaction.atomic():
                node = Node.objects.select_for_update().filter(node_id=identity.node_id).first()
                if node is None:
                    return Node.objects.create(node_id=identity.node_id, **values)
                if node.instance_id != identity.instance_id and node.is_alive_at(now):
                    raise NodeIdInUseError(
                        f"node id {identity.node_id!r} is held by a live node "
                        f"({_holder(node, now)}); stop that worker, or give this one "
                        "another OPENCLAW_NODE_ID"
                    )
                if node.instance_id != identity.instance_id:
                    # A warning when the holder never said it stopped (it crashed or hangs).
                    logger.log(
                        logging.WARNING if node.status == Node.Status.ONLINE else logging.INFO,
                        "node %s: taking over the id from a stale holder (%s)",
                        identity.node_id,
                        _holder(node, now),
                    )
                Node.objects.filter(pk=node.pk).update(**values)
                node.refresh_from_db()
                return node
        except IntegrityError:
            # Another process created the row first: look again (it is live: refused).
            if attempt:
                raise
    raise AssertionError("unreachable")


def node_heartbeat(
    *, node_id: str, instance_id: uuid.UUID, tasks_in_flight: int, now: datetime | None = None
) -> bool:
    """Record a heartbeat of this process's node; False when the id is no longer its own
    (taken over while this process was silent, or the row deleted)."""
    now = now or timezone.now()
    updated = Node.objects.filter(node_id=node_id, instance_id=instance_id).update(
        last_heartbeat_at=now,
        tasks_in_flight=max(0, tasks_in_flight),
        # Back from offline (a pause longer than the timeout): that is a transition too.
        status_changed_at=Case(
            When(status=Node.Status.OFFLINE, then=Value(now)), default=F("status_changed_at")
        ),
        status=Node.Status.ONLINE,
    )
    return updated == 1


def node_stop(*, node_id: str, instance_id: uuid.UUID, now: datetime | None = None) -> bool:
    """Mark this process's node offline at once (a clean worker shutdown)."""
    now = now or timezone.now()
    stopped = Node.objects.filter(
        node_id=node_id, instance_id=instance_id, status=Node.Status.ONLINE
    ).update(status=Node.Status.OFFLINE, status_changed_at=now, tasks_in_flight=0)
    if stopped:
        logger.info("node %s stopped", node_id)
    return stopped == 1


def node_sweep(*, now: datetime | None = None) -> SweepReport:
    """Mark online nodes without a heartbeat for ``NODE_OFFLINE_AFTER_SECONDS`` offline,
    one compare-and-set each (a heartbeat landing meanwhile wins), and delete nodes
    offline for longer than ``FORGET_AFTER``."""
    now = now or timezone.now()
    went_offline = []
    for node in Node.objects.stale(now):
        # Still stale at the moment of the update: a heartbeat in between keeps it online.
        flipped = (
            Node.objects.stale(now)
            .filter(pk=node.pk)
            .update(status=Node.Status.OFFLINE, status_changed_at=now, tasks_in_flight=0)
        )
        if flipped:
            went_offline.append(node.node_id)
            logger.warning("node %s is offline: %s", node.node_id, _holder(node, now))
    forgotten, _ = Node.objects.filter(
        status=Node.Status.OFFLINE, status_changed_at__lt=now - FORGET_AFTER
    ).delete()
    return SweepReport(went_offline=went_offline, forgotten=forgotten)


def route_for_skill(skill: str, *, now: datetime | None = None) -> str:
    """Return the queue for a task that needs ``skill``: ``skill.<name>`` when an online
    node declared it, the plain queue when an online node consumes a queue of that name.

    Raises ``NoNodeForSkillError`` when no online node has it (the task would wait in a
    queue nobody reads), ``NodeError`` for a name that is not a skill.
    """
    try:
        check_skill(skill)
    except NodeConfigError as exc:
        raise NodeError(str(exc)) from None
    online = node_selectors.nodes_online(now=now)
    queue = queue_for_skill(skill, [node.queues for node in online if skill in node.skills])
    if queue is None:
        known = sorted({s for node in online for s in node.skills})
        raise NoNodeForSkillError(
            f"no online node has the skill {skill!r} "
            f"({len(online)} node(s) online, with skills: {', '.join(known) or 'none'}); "
            f"start a worker with OPENCLAW_NODE_SKILLS={skill}"
        )
    return queue


def enqueue_for_skill(task_name: str, *, skill: str, kwargs: dict[str, Any] | None = None) -> str:
    """Send the task ``task_name`` (by name) to the queue of a node having ``skill``,
    once the caller's transaction commits; return the queue.

    Raises what ``route_for_skill`` raises, before anything is sent.
    """
    queue = route_for_skill(skill)
    transaction.on_commit(
        lambda: current_app.send_task(task_name, kwargs=kwargs or {}, queue=queue)
    )
    return queue
