"""Gateway methods: importing this package registers every handler module."""

from __future__ import annotations

from gateway.methods import catalog, chat, sessions, system  # noqa: F401  (registers handlers)
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
        "sessions.changed",
        "session.message",
        "device.pair.requested",
        "device.pair.resolved",
    }
)

__all__ = ["EVENTS", "REGISTRY", "advertised_methods"]
