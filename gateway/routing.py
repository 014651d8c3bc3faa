"""WebSocket routes. The OpenClaw protocol consumer is mounted at the root path."""

from __future__ import annotations

from typing import Any

websocket_urlpatterns: list[Any] = []
