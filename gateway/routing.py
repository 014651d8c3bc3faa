"""WebSocket routes: the OpenClaw protocol consumer at the root path."""

from __future__ import annotations

from typing import Any

from django.urls import re_path

from gateway.consumers import GatewayConsumer

websocket_urlpatterns: list[Any] = [
    re_path(r"^$", GatewayConsumer.as_asgi()),  # type: ignore[arg-type]
]
