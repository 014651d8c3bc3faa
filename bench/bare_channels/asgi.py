"""Bare Channels app: Django HTTP plus a JSON echo WebSocket consumer at /."""

from __future__ import annotations

import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.bare_channels.settings")
django_app = get_asgi_application()

from channels.generic.websocket import AsyncJsonWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402


class EchoConsumer(AsyncJsonWebsocketConsumer):
    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        await self.send_json(content)


application = ProtocolTypeRouter(
    {"http": django_app, "websocket": URLRouter([path("", EchoConsumer.as_asgi())])}  # type: ignore[list-item, arg-type]
)
