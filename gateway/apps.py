from __future__ import annotations

from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "gateway"
    verbose_name = "Gateway"

    def ready(self) -> None:
        # Lower apps announce events through core.events; the gateway delivers them.
        from core.events import register_publisher
        from gateway.bus import publish

        register_publisher(publish)
