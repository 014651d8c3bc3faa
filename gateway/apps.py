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

        # Cache invalidation only (STYLE.md allows signals for that): a saved or deleted
        # token or agent must not be served from the connect cache.
        from django.db.models.signals import post_delete, post_save

        from agents.models import Agent
        from gateway import authcache
        from gateway.models import GatewayToken

        for model in (GatewayToken, Agent):
            post_save.connect(
                authcache.clear, sender=model, dispatch_uid=f"authcache-{model.__name__}"
            )
            post_delete.connect(
                authcache.clear, sender=model, dispatch_uid=f"authcache-d-{model.__name__}"
            )
