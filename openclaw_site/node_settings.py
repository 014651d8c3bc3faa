"""Cluster node settings (``gateway.nodes``, docs/nodes.md), star-imported by ``settings``.

Every Celery worker process registers itself as a node and heartbeats. The id defaults to
``<hostname>:<pid>``; the declared skills add ``skill.<name>`` queues to the worker's own.
A node silent for ``NODE_OFFLINE_AFTER_SECONDS`` is offline, and beat's node sweep records
it every ``NODE_CHECK_SECONDS``. A bad id or skill stops start-up with one line.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from core.env import env_int, env_list, env_str
from gateway.lib.nodes import NodeConfigError, check_node_id, check_skills

__all__ = [
    "NODE_CHECK_SECONDS",
    "NODE_HEARTBEAT_SECONDS",
    "NODE_ID",
    "NODE_OFFLINE_AFTER_SECONDS",
    "NODE_SKILLS",
]

try:
    NODE_ID = check_node_id(_id) if (_id := env_str("OPENCLAW_NODE_ID", "").strip()) else ""
    NODE_SKILLS = check_skills(env_list("OPENCLAW_NODE_SKILLS", []))
except NodeConfigError as exc:
    raise ImproperlyConfigured(str(exc)) from None
NODE_HEARTBEAT_SECONDS = env_int("OPENCLAW_NODE_HEARTBEAT_S", 5, minimum=1, maximum=60)
NODE_OFFLINE_AFTER_SECONDS = env_int("OPENCLAW_NODE_OFFLINE_AFTER_S", 90, minimum=2)
NODE_CHECK_SECONDS = env_int("OPENCLAW_NODE_CHECK_S", 30, minimum=1)
