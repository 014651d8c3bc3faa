"""The event port: how lower apps announce things to connected gateway clients.

``agents`` and ``sessions_app`` must not import the gateway (imports point down), so the
gateway registers its publisher here when it starts; until then events go nowhere.
Events are wake-ups for clients: what they describe is already in the database.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class Publisher(Protocol):
    def __call__(
        self,
        event: str,
        payload: dict[str, Any],
        *,
        scope: str | None = None,
        drop_if_slow: bool = False,
        session_key: str | None = None,
    ) -> None: ...


def _nowhere(event: str, payload: dict[str, Any], **kwargs: Any) -> None:
    return None


_publisher: Callable[..., None] = _nowhere


def register_publisher(publisher: Callable[..., None]) -> None:
    global _publisher  # noqa: PLW0603  (a port set once at start-up)
    _publisher = publisher


def publish(
    event: str,
    payload: dict[str, Any],
    *,
    scope: str | None = None,
    drop_if_slow: bool = False,
    session_key: str | None = None,
) -> None:
    """Announce an event to every connected client allowed to see it."""
    _publisher(event, payload, scope=scope, drop_if_slow=drop_if_slow, session_key=session_key)
