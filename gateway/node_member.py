"""One worker process as a cluster node: who it is, its registration and its heartbeats.

Made by ``gateway.node_worker.NodeStep`` when a Celery worker is built. The node id is
``OPENCLAW_NODE_ID`` (with ``-w<index>`` in an embedded gateway's worker processes, which
share its environment) or ``<hostname>:<pid>``; the skills are the queues the worker
consumes plus ``OPENCLAW_NODE_SKILLS``, whose ``skill.<name>`` queues are added to what
it consumes. The heartbeat is a daemon thread (one UPDATE every
``NODE_HEARTBEAT_SECONDS``, with the tasks in flight), not a task on the queues.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
from importlib import metadata
from typing import Any

from celery.worker import state as worker_state
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection

from gateway.lib.nodes import default_node_id, skill_queue
from gateway.nodes import (
    NodeIdentity,
    NodeIdInUseError,
    node_heartbeat,
    node_register,
    node_stop,
)

logger = logging.getLogger(__name__)

# Like a bad setting: the process does not start, one line says why.
EXIT_REFUSED = 2
JOIN_WAIT_S = 2.0


def _version() -> str:
    try:
        return metadata.version("openclaw-django")
    except metadata.PackageNotFoundError:
        return ""


def node_id_for(*, host: str, pid: int) -> str:
    """This process's node id (see the module's docstring)."""
    index = os.environ.get("OPENCLAW_WORKER_INDEX") if settings.EMBEDDED_BROKER_SOCKET else None
    if not settings.NODE_ID:
        return default_node_id(hostname=host, pid=pid)
    if index is None:
        return str(settings.NODE_ID)
    suffix = f"-w{index}"
    return str(settings.NODE_ID)[: 128 - len(suffix)] + suffix


def identity_of(worker: Any) -> NodeIdentity:
    """The node a Celery ``WorkController`` is; adds the declared skills' queues to the
    queues it consumes (its consumer has not started yet)."""
    queues = worker.app.amqp.queues
    for skill in settings.NODE_SKILLS:
        queues.select_add(skill_queue(skill))
    host, pid = socket.gethostname(), os.getpid()
    return NodeIdentity(
        node_id=node_id_for(host=host, pid=pid),
        host=host,
        pid=pid,
        queues=sorted(queues.consume_from),
        declared_skills=list(settings.NODE_SKILLS),
        max_concurrent_tasks=int(worker.concurrency or 1),
        display_name=str(worker.hostname or ""),
        platform=sys.platform,
        version=_version(),
    )


def _refuse(message: str) -> None:
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    raise SystemExit(EXIT_REFUSED)


class NodeMember:
    """The registered node of this process and its heartbeat thread."""

    def __init__(self, identity: NodeIdentity) -> None:
        self.identity = identity
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False
        self._left = False

    @classmethod
    def join(cls, worker: Any) -> NodeMember:
        """Register the worker's node, or end the process with one line (exit 2) when its
        id is held by a live node or the database does not answer."""
        identity = identity_of(worker)
        close_old_connections()
        try:
            node_register(identity=identity)
        except NodeIdInUseError as exc:
            _refuse(str(exc))
        except DatabaseError as exc:
            _refuse(f"cannot register node {identity.node_id}: the database failed: {exc}")
        logger.info(
            "node %s registered: skills %s, %s slot(s)",
            identity.node_id,
            ",".join(identity.skills),
            identity.max_concurrent_tasks,
        )
        return cls(identity)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="node-heartbeat", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stopping.wait(settings.NODE_HEARTBEAT_SECONDS):
                self.beat()
        finally:
            connection.close()

    def beat(self) -> None:
        """One heartbeat; a database error is logged once per outage, never raised."""
        close_old_connections()
        try:
            kept = node_heartbeat(
                node_id=self.identity.node_id,
                instance_id=self.identity.instance_id,
                tasks_in_flight=len(worker_state.active_requests),
            )
            if not kept:
                self._rejoin()
        except DatabaseError as exc:
            if not self._failing:
                logger.warning("node %s: heartbeat failed: %s", self.identity.node_id, exc)
            self._failing = True
            return
        if self._failing:
            logger.info("node %s: heartbeats resumed", self.identity.node_id)
        self._failing = False

    def _rejoin(self) -> None:
        # The row is gone (deleted) or another process took the id over while this one
        # was silent past the timeout: register again unless that process is live.
        try:
            node_register(identity=self.identity)
        except NodeIdInUseError as exc:
            logger.error("%s; this worker goes on without heartbeats", exc)
            self._stopping.set()
        else:
            logger.warning("node %s registered again", self.identity.node_id)

    def leave(self) -> None:
        """Stop heartbeating and mark the node offline at once (a clean stop); idempotent."""
        if self._left:
            return
        self._left = True
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(JOIN_WAIT_S)
        close_old_connections()
        try:
            node_stop(node_id=self.identity.node_id, instance_id=self.identity.instance_id)
        except DatabaseError as exc:
            logger.warning("node %s: could not mark it offline: %s", self.identity.node_id, exc)
