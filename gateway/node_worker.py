"""The Celery bootstep that makes every worker process a cluster node.

``openclaw_site/celery.py`` adds ``NodeStep`` to the worker blueprint, so it runs in each
``celery -A openclaw_site worker``, in an embedded gateway's in-process worker and in its
``embedded_worker`` processes. At construction (before the banner, the pool or the
consumer) the node registers, and a refusal ends the process with one line; it
heartbeats from start to stop, and goes offline at a clean stop. This module is imported
before Django is set up: the node code (``gateway.node_member``) is loaded by the worker.
"""

from __future__ import annotations

from typing import Any

from celery import bootsteps


class NodeStep(bootsteps.StartStopStep):
    """Register the worker as a node, heartbeat while it runs, mark it offline at stop."""

    label = "cluster node"
    # Started after the pool (its concurrency is known) and before the consumer (last).
    requires = ("celery.worker.components:Pool",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        from gateway.node_member import NodeMember  # noqa: PLC0415  (Django is set up by now)

        self.member = NodeMember.join(parent)

    def start(self, parent: Any) -> None:
        self.member.start()

    def stop(self, parent: Any) -> None:
        self.member.leave()

    def terminate(self, parent: Any) -> None:
        self.member.leave()

    def shutdown(self, parent: Any) -> None:
        self.member.leave()
