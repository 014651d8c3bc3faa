"""Gateway methods: importing this package registers every handler module."""

from __future__ import annotations

# The registration order is the order of hello-ok's features.methods: sessions.* and
# chat.* (imported by agent), agent and agent.wait, send, then the rest.
from gateway.methods import agent, send  # noqa: F401  (registers handlers)

# isort: split
from gateway.methods import (  # noqa: F401  (registers handlers)
    catalog,
    chat,
    control_ui,
    cron,
    heartbeat,
    pairing,
    sessions,
    settings_pages,
    system,
)
from gateway.methods.registry import REGISTRY, advertised_methods

# Events this gateway really emits (hello-ok features.events).
EVENTS = frozenset(
    {
        "connect.challenge",
        "agent",
        "chat",
        "presence",
        "tick",
        "shutdown",
        "health",
        "cron",
        "heartbeat",
        "sessions.changed",
        "session.message",
        "device.pair.requested",
        "device.pair.resolved",
    }
)

__all__ = ["EVENTS", "REGISTRY", "advertised_methods"]
