"""ASGI entry point: HTTP (Django) and WebSocket (the gateway protocol) on one port."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "openclaw_site.settings")

# Django must be set up before anything imports models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from gateway.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # No AllowedHostsOriginValidator: OpenClaw's CLI and backends send no Origin
        # header, which it rejects. Browser origins are checked by the gateway consumer
        # as OpenClaw does (only when an Origin is present or the client is a browser UI).
        "websocket": URLRouter(websocket_urlpatterns),
    }
)
